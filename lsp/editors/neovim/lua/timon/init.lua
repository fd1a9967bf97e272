-- timon for Neovim 0.7 and later: starts `timon lsp` for the buffers you
-- edit, one server per project root, with Neovim's built-in LSP client.
--
--   vim.opt.runtimepath:append('/path/to/timon/lsp/editors/neovim')
--   require('timon').setup({ config = '~/.config/timon/lsp.yaml' })
--
-- What you get:
--   * completion: <M-\> in insert mode asks for a suggestion at the cursor
--     and inserts it (Neovim before 0.12 has no ghost text; the server also
--     answers 'omnifunc' and completion plugins such as nvim-cmp, where a
--     suggestion is an item with a text edit);
--   * code actions: vim.lsp.buf.code_action() (and, on 0.7, range_code_action()
--     for a visual selection): explain, document, fix, refactor in code; in
--     .tex files reformulate, grammar, shorten, translate, on the selection or
--     the paragraph at the cursor.
--
-- Neovim 0.7 has no vim.lsp.start: the client is started with
-- vim.lsp.start_client and buffers are attached from autocommands. Newer
-- Neovim uses vim.lsp.start, which does the same bookkeeping itself.

local M = {}

M.defaults = {
  -- The timon binary: a name on PATH or a path.
  path = 'timon',
  -- Passed as `timon lsp --config FILE` when set.
  config = nil,
  -- Passed as `timon lsp --hub URL` when set (remote mode; the personal
  -- token comes from TIMON_TOKEN, or the file the configuration names).
  hub_url = nil,
  -- Extra environment for the server (TIMON_DATA_DIR, HTTPS_PROXY…).
  env = nil,
  -- Only these filetypes when set; nil attaches every buffer that is a
  -- file (the server decides what it offers where and never sends ignored
  -- files such as .env or *.key).
  filetypes = nil,
  -- The project root is the nearest directory holding one of these, else
  -- the file's own directory.
  root_markers = { '.git', '.hg', '.timonignore', 'go.mod', 'pyproject.toml', 'package.json', 'Cargo.toml', 'Makefile' },
  -- Insert-mode key asking for a suggestion; false for none.
  suggest_key = '<M-\\>',
  -- Sets 'omnifunc' to vim.lsp.omnifunc in attached buffers.
  omnifunc = true,
  -- Called as on_attach(client, bufnr) after a buffer is attached.
  on_attach = nil,
}

local opts = vim.deepcopy(M.defaults)
local clients = {} -- root directory -> client id (Neovim 0.7)

-- cmd returns the server's command line.
function M.cmd(o)
  o = o or opts
  local cmd = { vim.fn.expand(o.path or 'timon'), 'lsp' }
  if o.config and o.config ~= '' then
    table.insert(cmd, '--config')
    table.insert(cmd, vim.fn.expand(o.config))
  end
  if o.hub_url and o.hub_url ~= '' then
    table.insert(cmd, '--hub')
    table.insert(cmd, o.hub_url)
  end
  return cmd
end

-- root_dir finds the project root of a file: the nearest directory above
-- it holding a root marker.
function M.root_dir(fname)
  local dir = vim.fn.fnamemodify(fname, ':p:h')
  local best
  for _, marker in ipairs(opts.root_markers or {}) do
    local found = vim.fn.finddir(marker, dir .. ';')
    if found == '' then
      found = vim.fn.findfile(marker, dir .. ';')
    end
    if found ~= '' then
      local root = vim.fn.fnamemodify(found, ':p'):gsub('/$', '')
      root = vim.fn.fnamemodify(root, ':h')
      if not best or #root > #best then
        best = root
      end
    end
  end
  return best or dir
end

local function wanted(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return false
  end
  if vim.api.nvim_buf_get_name(bufnr) == '' then
    return false
  end
  if opts.filetypes then
    return vim.tbl_contains(opts.filetypes, vim.bo[bufnr].filetype)
  end
  return true
end

local function on_attach(client, bufnr)
  if opts.omnifunc then
    vim.bo[bufnr].omnifunc = 'v:lua.vim.lsp.omnifunc'
  end
  if opts.suggest_key then
    vim.keymap.set('i', opts.suggest_key, function()
      M.suggest()
    end, { buffer = bufnr, desc = 'timon: suggest a completion' })
  end
  if opts.on_attach then
    opts.on_attach(client, bufnr)
  end
end

local function client_config(root)
  return {
    name = 'timon',
    cmd = M.cmd(),
    cmd_env = opts.env,
    root_dir = root,
    on_attach = on_attach,
  }
end

-- attach starts the server of the buffer's project if needed and attaches
-- the buffer to it.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not wanted(bufnr) then
    return
  end
  local root = M.root_dir(vim.api.nvim_buf_get_name(bufnr))
  if vim.lsp.start then -- Neovim 0.8+
    vim.lsp.start(client_config(root), { bufnr = bufnr })
    return
  end
  local id = clients[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    local cfg = client_config(root)
    cfg.on_exit = function(_, _, client_id)
      if clients[root] == client_id then
        clients[root] = nil
      end
    end
    id = vim.lsp.start_client(cfg)
    if not id then
      vim.notify('timon: could not start ' .. table.concat(M.cmd(), ' '), vim.log.levels.ERROR)
      return
    end
    clients[root] = id
  end
  if not vim.lsp.buf_is_attached(bufnr, id) then
    vim.lsp.buf_attach_client(bufnr, id)
  end
end

-- setup configures timon and attaches the buffers already open and those
-- opened later.
function M.setup(user)
  opts = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), user or {})
  local group = vim.api.nvim_create_augroup('timon', { clear = true })
  vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile' }, {
    group = group,
    callback = function(ev)
      -- After the filetype is known: it is the document's languageId.
      vim.schedule(function()
        M.attach(ev.buf)
      end)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      M.attach(bufnr)
    end
  end
end

local function timon_client(bufnr)
  if vim.lsp.get_clients then -- Neovim 0.10+
    return vim.lsp.get_clients({ bufnr = bufnr, name = 'timon' })[1]
  end
  for _, c in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if c.name == 'timon' then
      return c
    end
  end
end

-- request sends a request with the client's method-call form of the
-- Neovim at hand (client:request since 0.11, client.request before).
local function request(client, method, params, handler, bufnr)
  if vim.fn.has('nvim-0.11') == 1 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

-- byte_col converts a position's character (in the client's encoding) to
-- a byte column of line.
local function byte_col(line, character, encoding)
  if encoding == 'utf-8' then
    return character
  end
  if vim.fn.has('nvim-0.11') == 1 then
    return vim.str_byteindex(line, encoding, character, false)
  end
  return vim.str_byteindex(line, character, encoding == 'utf-16')
end

-- end_of_insert returns the (1-based row, 0-based byte column) just after
-- newText inserted at range.start.
local function end_of_insert(bufnr, start, new_text, encoding)
  local lines = vim.split(new_text, '\n', { plain = true })
  local row = start.line + #lines - 1
  if #lines > 1 then
    return row + 1, #lines[#lines]
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, start.line, start.line + 1, false)[1] or ''
  return row + 1, byte_col(line, start.character, encoding) + #lines[1]
end

-- suggest asks the server for a completion at the cursor, explicitly
-- invoked (so it also works in comments and prose), and inserts the first
-- suggestion. Typing before the answer arrives drops it. done, if given,
-- is called as done(text) with the inserted text, or done(nil, reason).
function M.suggest(done)
  done = done or function() end
  local bufnr = vim.api.nvim_get_current_buf()
  local client = timon_client(bufnr)
  if not client then
    vim.notify('timon: no timon lsp attached to this buffer', vim.log.levels.WARN)
    return done(nil, 'not attached')
  end
  local win = vim.api.nvim_get_current_win()
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  params.context = { triggerKind = 1 }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  request(client, 'textDocument/completion', params, function(err, result)
    if err then
      vim.notify('timon: ' .. (err.message or tostring(err)), vim.log.levels.WARN)
      return done(nil, err.message or 'error')
    end
    if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return done(nil, 'buffer changed')
    end
    local items = result and (result.items or result) or {}
    local item = items[1]
    if not item then
      return done(nil, 'no suggestion')
    end
    local edit = item.textEdit
    if edit and edit.insert then -- InsertReplaceEdit
      edit = { range = edit.replace, newText = edit.newText }
    end
    if not edit then
      edit = { range = { start = params.position, ['end'] = params.position }, newText = item.insertText or item.label }
    end
    local edits = { edit }
    vim.list_extend(edits, item.additionalTextEdits or {})
    vim.lsp.util.apply_text_edits(edits, bufnr, client.offset_encoding)
    if vim.api.nvim_get_current_win() == win and vim.api.nvim_win_get_buf(win) == bufnr then
      local row, col = end_of_insert(bufnr, edit.range.start, edit.newText, client.offset_encoding)
      pcall(vim.api.nvim_win_set_cursor, win, { row, col })
    end
    done(edit.newText)
  end, bufnr)
end

return M
