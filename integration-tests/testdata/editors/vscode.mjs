// Driven by integration-tests/editors_test.go: VS Code (code-server, with
// the project's .vsix installed) in Debian's chromium, through
// playwright-core. It does what a user does: opens main.go, types " {" at
// the end of a line and waits for the inline suggestion (ghost text),
// accepts it with Tab and saves; opens paper.tex, puts the cursor in a
// paragraph, opens the code actions menu (Ctrl+.), picks the action by its
// title, checks that the refactor preview appears with the change unticked
// (it needs confirmation) and that nothing changed before the user ticks it
// and clicks Apply, applies it and saves. The Go test checks
// the files. Prints one JSON line
// {"ghost": "...", "actions": [...], "previewed": true} on success; on failure prints
// "FAIL: why", leaves screenshots in TIMON_TEST_ARTIFACTS and exits 1.
//
// Environment: TIMON_TEST_URL (code-server), TIMON_TEST_PROJECT (the
// folder it opens), TIMON_TEST_ACTION (the action's title),
// TIMON_TEST_TEX_LINE (a line of the paragraph to rewrite in paper.tex),
// TIMON_TEST_ARTIFACTS (a directory for screenshots), CHROMIUM (the
// browser, default /usr/bin/chromium).

import { chromium } from 'playwright-core';
import { join } from 'node:path';

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.log(`FAIL: ${name} is not set`);
    process.exit(1);
  }
  return v;
};
const url = need('TIMON_TEST_URL');
const project = need('TIMON_TEST_PROJECT');
const actionTitle = need('TIMON_TEST_ACTION');
const artifacts = need('TIMON_TEST_ARTIFACTS');
const texLine = Number(need('TIMON_TEST_TEX_LINE'));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // The machine has no network but loopback: no background traffic.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const consoleErrors = [];
page.on('console', (m) => {
  if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 300));
});

const step = (what) => console.error(`vscode: ${what}`);
let shot = 0;
const screenshot = async (name) => {
  shot++;
  await page.screenshot({ path: join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`) }).catch(() => {});
};

const editor = page.locator('.editor-instance .monaco-editor').first();
const editorText = async () => (await editor.locator('.view-lines').innerText()).replace(/\u00a0/g, ' ');

// openFile opens a file from the explorer and puts the focus in its editor.
async function openFile(name) {
  step(`open ${name}`);
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first().click();
  await page.locator(`.tab.active[aria-label*="${name}"]`).waitFor({ timeout: 20000 });
  await editor.locator('.view-lines').click();
}

// goToLine moves the cursor to the end of line n (Ctrl+G, as a user does).
async function goToLine(n, end = true) {
  await page.keyboard.press('Control+G');
  await page.locator('.quick-input-widget input').waitFor({ timeout: 10000 });
  await page.keyboard.type(String(n));
  await page.keyboard.press('Enter');
  if (end) await page.keyboard.press('End');
}

// runCommand runs a command from the command palette by its label. The
// extension's commands appear once the extension host has scanned the
// extensions, a few seconds after the workbench: try again until then.
async function runCommand(label, timeout = 60000) {
  const deadline = Date.now() + timeout;
  const input = page.locator('.quick-input-widget input');
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
  for (;;) {
    await page.keyboard.press('Control+Shift+P');
    await input.waitFor({ timeout: 10000 });
    await page.keyboard.type(label);
    try {
      await row.waitFor({ timeout: 3000 });
      await page.keyboard.press('Enter');
      return;
    } catch (err) {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) throw new Error(`no command "${label}" in the palette`);
    }
  }
}

const result = {};
try {
  step('load the workbench');
  await page.goto(`${url}/?folder=${encodeURIComponent(project)}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: 90000 });
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'main.go' }).first().waitFor({ timeout: 60000 });

  // The extension says when the server is up, in its output channel.
  step('wait for timon lsp');
  await runCommand('timon: Show Log');
  await page.locator('.output-view, .panel').getByText('timon lsp is running').first().waitFor({ timeout: 60000 });
  await screenshot('server-running');

  // Go: ghost text while typing.
  await openFile('main.go');
  await goToLine(3);
  step('type and wait for the ghost text');
  await page.keyboard.type(' {', { delay: 60 });
  // Ghost text is rendered as one span per token, hence the join.
  const ghostText = () => page.evaluate(() => [...document.querySelectorAll(
    '.editor-instance .monaco-editor .ghost-text, .editor-instance .monaco-editor .ghost-text-decoration')]
    .map((e) => e.textContent).join('').replace(/\u00a0/g, ' '));
  await editor.locator('.ghost-text, .ghost-text-decoration').first().waitFor({ state: 'attached', timeout: 30000 });
  const deadline = Date.now() + 15000;
  while (!(await ghostText()).includes('return a + b')) {
    if (Date.now() > deadline) throw new Error(`ghost text without the suggestion: ${JSON.stringify(await ghostText())}`);
    await page.waitForTimeout(100);
  }
  result.ghost = await ghostText();
  await screenshot('ghost-text');
  await page.keyboard.press('Tab');
  await page.waitForFunction(() => !document.querySelector('.editor-instance .monaco-editor .ghost-text, .editor-instance .monaco-editor .ghost-text-decoration'), null, { timeout: 10000 });
  await page.keyboard.press('Control+S');
  await page.locator('.tab.active.dirty').waitFor({ state: 'detached', timeout: 10000 });
  result.go = await editorText();

  // LaTeX: the rewrite action on the paragraph at the cursor.
  await openFile('paper.tex');
  await goToLine(texLine, false);
  await page.keyboard.press('End');
  await page.keyboard.press('Control+ArrowLeft');
  step('open the code actions menu');
  // The menu lists the server's actions once it has the document: on a
  // loaded machine that can take a while, so ask again until it does.
  const menu = page.locator('.action-widget').filter({ visible: true });
  for (let deadline = Date.now() + 60000; ; ) {
    await page.keyboard.press('Control+.');
    try {
      await menu.waitFor({ state: 'visible', timeout: 5000 });
      await menu.getByText(actionTitle, { exact: true }).first().waitFor({ timeout: 5000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await page.keyboard.press('Escape');
    }
  }
  result.actions = (await menu.locator('.monaco-list-row').allInnerTexts()).map((t) => t.trim()).filter((t) => t !== '');
  await screenshot('code-actions');
  await menu.getByText(actionTitle, { exact: true }).first().click();
  // The rewrite's edit needs confirmation (a change annotation): VS Code
  // shows its refactor preview, and the document stays as it was until
  // the preview's Apply is clicked.
  step('wait for the refactor preview');
  const preview = page.locator('.bulk-edit-panel[data-state="data"]').filter({ visible: true }).first();
  await preview.waitFor({ state: 'visible', timeout: 30000 });
  await preview.locator('.monaco-list-row', { hasText: 'paper.tex' }).first().waitFor({ timeout: 10000 });
  await screenshot('refactor-preview');
  const texTab = page.locator('.tab[aria-label*="paper.tex"]').first();
  if (await page.locator('.tab.dirty[aria-label*="paper.tex"]').count() > 0) {
    throw new Error('paper.tex was changed before the preview was applied');
  }
  if (await texTab.evaluate((e) => e.classList.contains('active'))) {
    const before = await editorText();
    if (before.includes('we use') || !before.includes('we utilize')) {
      throw new Error(`paper.tex was changed before the preview was applied: ${JSON.stringify(before)}`);
    }
  }
  result.previewed = true;
  // An edit that needs confirmation starts unticked in the preview: the
  // user ticks it (here the file, with all its edits), then applies.
  step('tick the change and apply the preview');
  const fileRow = preview.locator('.monaco-list-row', { hasText: 'paper.tex' }).first();
  const box = fileRow.locator('[role="checkbox"], .monaco-checkbox, input[type="checkbox"]').first();
  const isTicked = () => box.evaluate((e) => e.getAttribute('aria-checked') === 'true' || e.checked === true || e.classList.contains('checked'));
  if (await isTicked()) throw new Error('the rewrite was ticked in the preview before the user ticked it: it does not need confirmation');
  await box.click();
  for (const deadline = Date.now() + 10000; !(await isTicked()); ) {
    if (Date.now() > deadline) throw new Error('the change could not be ticked in the refactor preview');
    await page.waitForTimeout(100);
  }
  await screenshot('refactor-preview-ticked');
  if (await page.locator('.tab.dirty[aria-label*="paper.tex"]').count() > 0) {
    throw new Error('paper.tex was changed before the preview was applied');
  }
  await preview.locator('.buttons .monaco-button', { hasText: 'Apply' }).first().click();
  await page.locator('.bulk-edit-panel[data-state="data"]').filter({ visible: true }).waitFor({ state: 'detached', timeout: 10000 })
    .catch(() => page.locator('.bulk-edit-panel[data-state="data"]').filter({ visible: true }).waitFor({ state: 'hidden', timeout: 1000 }));
  await texTab.click();
  step('wait for the rewrite');
  await page.waitForFunction(
    () => document.querySelector('.editor-instance .monaco-editor .view-lines')?.textContent.replace(/\u00a0/g, ' ').includes('we use'),
    null, { timeout: 30000 });
  await page.keyboard.press('Control+S');
  await page.locator('.tab.active.dirty').waitFor({ state: 'detached', timeout: 10000 });
  result.tex = await editorText();
  await screenshot('rewritten');
  console.log(JSON.stringify(result));
  await browser.close();
} catch (err) {
  await screenshot('failure');
  console.log(`FAIL: ${err.message.split('\n')[0]}`);
  console.log(`partial result: ${JSON.stringify(result)}`);
  for (const e of consoleErrors.slice(-20)) console.log(`console: ${e}`);
  await browser.close();
  process.exit(1);
}
