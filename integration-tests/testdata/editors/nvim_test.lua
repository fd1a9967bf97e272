-- Driven by integration-tests/editors_test.go as
--   nvim --headless -i NONE -n -u nvim_test.lua
-- with lsp/editors/neovim on the runtimepath. It does what a user does:
-- opens main.go, asks for a suggestion at the end of a line and saves;
-- opens paper.tex, runs vim.lsp.buf.code_action() with the cursor in a
-- paragraph, picks the action by its title and saves. The Go test checks
-- the files. Any failure prints "FAIL: why" on stderr and exits 1.

local env = function(name)
  local v = os.getenv(name)
  if not v or v == '' then
    io.stderr:write('FAIL: ' .. name .. ' is not set\n')
    vim.cmd('cquit 1')
  end
  return v
end

local project = env('TIMON_TEST_PROJECT')
local action_title = env('TIMON_TEST_ACTION')
vim.opt.runtimepath:append(env('TIMON_NVIM_PLUGIN'))
vim.lsp.set_log_level('debug')

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

local function open(name)
  vim.cmd('edit ' .. vim.fn.fnameescape(project .. '/' .. name))
  local bufnr = vim.api.nvim_get_current_buf()
  wait(15000, function()
    local c = timon_client(bufnr)
    return c ~= nil and c.initialized
  end, 'timon lsp to attach to ' .. name)
  return bufnr
end

local ok, err = pcall(function()
  require('timon').setup({
    path = env('TIMON_BIN'),
    config = env('TIMON_TEST_CONFIG'),
    suggest_key = '<M-\\>',
  })

  -- Go: a suggestion at the end of "func add(a, b int) int {".
  local go = open('main.go')
  local line = vim.fn.search('^func add', 'w')
  if line == 0 then
    fail('main.go has no func add line')
  end
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  -- The user types A (append at the end of the line) then Alt+\ (the
  -- plugin's suggest key) and, once the suggestion is in, Esc. Keys are
  -- fed as typed; a timer plays the user's Esc when the buffer changed.
  local before = table.concat(vim.api.nvim_buf_get_lines(go, 0, -1, false), '\n')
  local changed = function()
    return table.concat(vim.api.nvim_buf_get_lines(go, 0, -1, false), '\n') ~= before
  end
  local deadline = vim.loop.now() + 20000
  local timer = vim.loop.new_timer()
  local mode_seen
  timer:start(20, 20, vim.schedule_wrap(function()
    if changed() or vim.loop.now() > deadline then
      mode_seen = vim.api.nvim_get_mode().mode
      timer:stop()
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'n', false)
    end
  end))
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('A<M-\\>', true, false, true), 'mx!', false)
  timer:close()
  if not changed() then
    fail('no completion inserted within 20 s (mode ' .. tostring(mode_seen) .. ')')
  end
  io.stdout:write('completion: ' .. vim.inspect(table.concat(vim.api.nvim_buf_get_lines(go, 0, -1, false), '\n')) .. ' in mode ' .. tostring(mode_seen) .. '\n')
  vim.api.nvim_buf_call(go, function()
    vim.cmd('write')
  end)

  -- LaTeX: the rewrite action on the paragraph at the cursor.
  local tex = open('paper.tex')
  local para = vim.fn.search('utilize', 'w')
  if para == 0 then
    fail('paper.tex has no paragraph with "utilize"')
  end
  vim.api.nvim_win_set_cursor(0, { para, 10 })
  local before = table.concat(vim.api.nvim_buf_get_lines(tex, 0, -1, false), '\n')
  local offered = {}
  local chosen = false
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(offered, title)
      if title == action_title and not chosen then
        chosen = true
        on_choice(item)
      end
    end
    if not chosen then
      on_choice(nil)
    end
  end
  vim.lsp.buf.code_action()
  wait(20000, function()
    return #offered > 0
  end, 'the code actions menu')
  io.stdout:write('offered: ' .. table.concat(offered, ' | ') .. '\n')
  if not chosen then
    fail('action "' .. action_title .. '" not offered')
  end
  wait(20000, function()
    return table.concat(vim.api.nvim_buf_get_lines(tex, 0, -1, false), '\n') ~= before
  end, 'the rewrite to be applied')
  vim.api.nvim_buf_call(tex, function()
    vim.cmd('write')
  end)
end)
if not ok then
  fail(tostring(err))
end
vim.cmd('qall!')
