// The timon extension for VS Code: it starts `timon lsp` on stdio and
// connects it to the editor with vscode-languageclient. Everything the user
// sees comes from the server: inline completions (ghost text), completion
// items, code actions (explain, document, fix, refactor; LaTeX reformulate,
// grammar, shorten, translate), progress and error messages. This file only
// builds the command line from the settings (the binary: timon.path, else
// the one a platform-specific package bundles in bin/, else timon on PATH),
// keeps the personal token in VS Code's secret storage, and restarts the
// server when they change.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';

const section = 'timon';
const tokenKey = 'timon.token';

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('timon', { log: true });
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('timon.restart', () => restart(context)),
    vscode.commands.registerCommand('timon.showOutput', () => output?.show()),
    vscode.commands.registerCommand('timon.setToken', () => setToken(context)),
    vscode.commands.registerCommand('timon.clearToken', async () => {
      await context.secrets.delete(tokenKey);
      void vscode.window.showInformationMessage('timon: personal token forgotten.');
      await restart(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (
        e.affectsConfiguration(`${section}.path`) ||
        e.affectsConfiguration(`${section}.config`) ||
        e.affectsConfiguration(`${section}.hubUrl`) ||
        e.affectsConfiguration(`${section}.env`)
      ) {
        await restart(context);
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await stop();
}

// serverCommand builds the `timon lsp` command line from the settings;
// extensionPath is where the extension is installed.
export function serverCommand(
  cfg: vscode.WorkspaceConfiguration,
  extensionPath: string,
): { command: string; args: string[] } {
  const command = expand(cfg.get<string>('path', '').trim()) || bundledBinary(extensionPath) || 'timon';
  const args = ['lsp'];
  const config = expand(cfg.get<string>('config', '').trim());
  if (config !== '') {
    args.push('--config', config);
  }
  const hub = cfg.get<string>('hubUrl', '').trim();
  if (hub !== '') {
    args.push('--hub', hub);
  }
  return { command, args };
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const cfg = vscode.workspace.getConfiguration(section);
  const { command, args } = serverCommand(cfg, context.extensionPath);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(cfg.get<Record<string, string>>('env', {}))) {
    env[k] = expand(String(v));
  }
  const token = await context.secrets.get(tokenKey);
  if (token) {
    env.TIMON_TOKEN = token;
  }
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const serverOptions: ServerOptions = {
    command,
    args,
    transport: TransportKind.stdio,
    options: { env, cwd: folder?.scheme === 'file' ? folder.fsPath : undefined },
  };
  const clientOptions: LanguageClientOptions = {
    // Every file on disk and every unsaved buffer: the server decides what
    // it offers where, and never sends ignored files (.timonignore, .env,
    // keys) to a model.
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    outputChannel: output,
    traceOutputChannel: output,
  };
  output?.info(`starting ${command} ${args.join(' ')}`);
  client = new LanguageClient(section, 'timon', serverOptions, clientOptions);
  try {
    await client.start();
    output?.info('timon lsp is running');
  } catch (err) {
    client = undefined;
    const msg = err instanceof Error ? err.message : String(err);
    output?.error(`timon lsp did not start: ${msg}`);
    const open = 'Open Settings';
    const log = 'Show Log';
    const pick = await vscode.window.showErrorMessage(
      `timon: could not start "${command} ${args.join(' ')}": ${msg}`,
      open,
      log,
    );
    if (pick === open) {
      await vscode.commands.executeCommand('workbench.action.openSettings', '@ext:timon.timon');
    } else if (pick === log) {
      output?.show();
    }
  }
}

async function stop(): Promise<void> {
  const c = client;
  client = undefined;
  if (c) {
    try {
      await c.stop();
    } catch (err) {
      output?.warn(`stopping timon lsp: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

async function restart(context: vscode.ExtensionContext): Promise<void> {
  await stop();
  await start(context);
}

async function setToken(context: vscode.ExtensionContext): Promise<void> {
  const token = await vscode.window.showInputBox({
    title: 'timon: personal token',
    prompt: 'Paste the personal token your timon hub gave you (it starts with timon_). It is kept in VS Code\'s secret storage.',
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim().startsWith('timon_') ? undefined : 'A timon token starts with timon_'),
  });
  if (token === undefined) {
    return;
  }
  await context.secrets.store(tokenKey, token.trim());
  void vscode.window.showInformationMessage('timon: personal token saved.');
  await restart(context);
}

// bundledBinary is the binary a platform-specific package (make dist) ships
// in bin/, or '' in the generic package, which has none.
function bundledBinary(extensionPath: string): string {
  const bin = path.join(extensionPath, 'bin', process.platform === 'win32' ? 'timon.exe' : 'timon');
  return fs.existsSync(bin) ? bin : '';
}

// expand replaces a leading ~ and ${userHome} with the home directory.
function expand(p: string): string {
  const home = os.homedir();
  let out = p.replaceAll('${userHome}', home);
  if (out === '~' || out.startsWith('~/')) {
    out = path.join(home, out.slice(1));
  }
  return out;
}
