-- timon with nvim-lspconfig or Neovim 0.11's vim.lsp.config, for those who
-- manage their servers that way instead of require('timon').setup().
-- Pick one of the two blocks.

local cmd = { 'timon', 'lsp', '--config', vim.fn.expand('~/.config/timon/lsp.yaml') }
local filetypes = {
  'go', 'python', 'c', 'cpp', 'rust', 'java', 'javascript', 'typescript', 'julia',
  'r', 'fortran', 'sh', 'lua', 'tex', 'plaintex', 'bib', 'markdown',
}

if vim.lsp.config and vim.lsp.enable then
  -- Neovim 0.11+: no plugin needed.
  vim.lsp.config('timon', {
    cmd = cmd,
    filetypes = filetypes,
    root_markers = { '.git', '.timonignore' },
  })
  vim.lsp.enable('timon')
  -- Neovim 0.12+ shows inline completions (ghost text) from the server.
  if vim.lsp.inline_completion then
    vim.lsp.inline_completion.enable(true)
  end
else
  -- nvim-lspconfig, as a custom server.
  local configs = require('lspconfig.configs')
  local util = require('lspconfig.util')
  if not configs.timon then
    configs.timon = {
      default_config = {
        cmd = cmd,
        filetypes = filetypes,
        root_dir = util.root_pattern('.git', '.timonignore'),
        single_file_support = true,
      },
      docs = { description = "timon lsp: your institution's governed assistant" },
    }
  end
  require('lspconfig').timon.setup({})
end
