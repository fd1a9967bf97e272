-- Driven by integration-tests/editors_cite_test.go as
--   nvim --headless -i NONE -n -u nvim_cite_test.lua
-- with lsp/editors/neovim on the runtimepath. It does what a user does in
-- cite.tex: waits for the warning on the unknown citation key, hovers a
-- key, then, in \cite{jo}, types a (append) and Ctrl-X Ctrl-O (the
-- plugin's omnifunc), picks the first item with Ctrl-N Ctrl-Y, leaves
-- insert mode and saves. The Go test checks the file and what is printed.
-- Any failure prints "FAIL: why" on stderr and exits 1.

local env = function(name)
  local v = os.getenv(name)
  if not v or v == '' then
    io.stderr:write('FAIL: ' .. name .. ' is not set\n')
    vim.cmd('cquit 1')
  end
  return v
end

local project = env('TIMON_TEST_PROJECT')
vim.opt.runtimepath:append(env('TIMON_NVIM_PLUGIN'))
vim.lsp.set_log_level('debug')
-- The menu shows even for one item, nothing selected until Ctrl-N.
vim.opt.completeopt = 'menuone,noselect'

local function fail(msg)
  io.stderr:write('FAIL: ' .. msg .. '\n')
  vim.cmd('cquit 1')
end

local function wait(ms, cond, what)
  if not vim.wait(ms, cond, 20) then
    fail('timed out after ' .. ms .. ' ms waiting for ' .. what)
  end
end

local function timon_client(bufnr)
  for _, c in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if c.name == 'timon' then
      return c
    end
  end
end

local ok, err = pcall(function()
  require('timon').setup({
    path = env('TIMON_BIN'),
    config = env('TIMON_TEST_CONFIG'),
  })
  vim.cmd('edit ' .. vim.fn.fnameescape(project .. '/cite.tex'))
  local buf = vim.api.nvim_get_current_buf()
  wait(15000, function()
    local c = timon_client(buf)
    return c ~= nil and c.initialized
  end, 'timon lsp to attach to cite.tex')

  -- The unknown key's warning.
  wait(15000, function()
    return #vim.diagnostic.get(buf) > 0
  end, 'the diagnostic on the unknown key')
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    io.stdout:write(string.format('diagnostic: %d:%d-%d severity %d %s\n', d.lnum, d.col, d.end_col, d.severity, d.message))
  end

  -- Hover on a known key.
  local line = vim.fn.search('curie1898', 'w')
  if line == 0 then
    fail('cite.tex has no curie1898')
  end
  vim.api.nvim_win_set_cursor(0, { line, vim.fn.col('.') + 1 })
  local res = vim.lsp.buf_request_sync(buf, 'textDocument/hover', vim.lsp.util.make_position_params(), 10000)
  for _, r in pairs(res or {}) do
    if r.result and r.result.contents then
      io.stdout:write('hover: ' .. vim.inspect(r.result.contents.value) .. '\n')
    end
  end

  -- Completion in \cite{jo}: the cursor on the o, then "a" appends.
  line = vim.fn.search('{jo}', 'w')
  if line == 0 then
    fail('cite.tex has no {jo}')
  end
  vim.api.nvim_win_set_cursor(0, { line, vim.fn.col('.') + 1 }) -- on the o
  local before = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
  local deadline = vim.loop.now() + 20000
  local timer = vim.loop.new_timer()
  local offered
  timer:start(20, 20, vim.schedule_wrap(function()
    if vim.fn.pumvisible() == 1 then
      offered = vim.fn.complete_info({ 'items' }).items
      timer:stop()
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<C-n><C-y><Esc>', true, false, true), 'n', false)
    elseif vim.loop.now() > deadline then
      timer:stop()
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'n', false)
    end
  end))
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('a<C-x><C-o>', true, false, true), 'mx!', false)
  timer:close()
  if not offered then
    fail('no completion menu within 20 s')
  end
  for _, item in ipairs(offered) do
    io.stdout:write('offered: ' .. item.word .. ' | ' .. (item.menu or '') .. '\n')
  end
  if table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') == before then
    fail('the completion changed nothing')
  end
  vim.cmd('write')
end)
if not ok then
  fail(tostring(err))
end
vim.cmd('qall!')
