-- A minimal ~/.config/nvim/init.lua for timon on Neovim 0.7 and later,
-- with the timon repository (or just its lsp/editors/neovim folder)
-- checked out in ~/src/timon.

vim.opt.runtimepath:append(vim.fn.expand('~/src/timon/lsp/editors/neovim'))

require('timon').setup({
  -- path = '/usr/local/bin/timon',            -- default: timon on PATH
  config = '~/.config/timon/lsp.yaml',          -- timon lsp --config
  -- hub_url = 'https://timon.example.org',    -- remote mode; token in TIMON_TOKEN
  -- filetypes = { 'go', 'python', 'tex' },    -- default: every file
  -- suggest_key = '<M-\\>',                   -- insert mode: ask for a suggestion
  on_attach = function(_, bufnr)
    local map = function(mode, lhs, rhs, desc)
      vim.keymap.set(mode, lhs, rhs, { buffer = bufnr, desc = desc })
    end
    -- Code actions: on the selection, or the paragraph at the cursor in LaTeX.
    map('n', '<leader>ta', vim.lsp.buf.code_action, 'timon: code actions')
    if vim.fn.has('nvim-0.8') == 1 then
      map('x', '<leader>ta', vim.lsp.buf.code_action, 'timon: code actions')
    else
      map('x', '<leader>ta', ':<C-u>lua vim.lsp.buf.range_code_action()<CR>', 'timon: code actions')
    end
  end,
})
