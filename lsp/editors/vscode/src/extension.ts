// The timon extension for VS Code: it starts `timon lsp` on stdio and
// connects it to the editor with vscode-languageclient. Everything the user
// sees comes from the server: inline completions (ghost text), completion
// items, code actions (explain, document, fix, refactor; LaTeX reformulate,
// grammar, shorten, translate), progress and error messages. This file only
// builds the command line from the settings (the binary: timon.path, else
// the one a platform-specific package bundles in bin/, else timon on PATH),
// keeps the personal token in VS Code's secret storage (pasted, or from
// signing in to the hub in the browser: signin.ts), and restarts the
// server when they change.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  type Credential,
  SignInError,
  expired,
  normalizeHub,
  revokeToken,
  startSignIn,
  verificationURL,
  waitForToken,
} from './signin';
import {
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';

const section = 'timon';
// tokenKey holds the pasted token (timon: Set Personal Token);
// signInKey(hub) the credential of a sign-in to that hub (JSON).
const tokenKey = 'timon.token';
const signInKey = (hub: string) => `timon.signin:${hub}`;
// envToken is the variable timon lsp reads the personal token from.
const envToken = 'TIMON_TOKEN';

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
      const hub = configuredHub();
      if (hub) {
        await context.secrets.delete(signInKey(hub));
      }
      void vscode.window.showInformationMessage('timon: personal token forgotten.');
      await restart(context);
    }),
    vscode.commands.registerCommand('timon.signIn', () => signIn(context)),
    vscode.commands.registerCommand('timon.signOut', () => signOut(context)),
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
  const token = await serverToken(context);
  if (token) {
    env[envToken] = token;
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
  // The most recent wins: a pasted token replaces the sign-in to the hub.
  const hub = configuredHub();
  if (hub) {
    await context.secrets.delete(signInKey(hub));
  }
  void vscode.window.showInformationMessage('timon: personal token saved.');
  await restart(context);
}

// configuredHub is timon.hubUrl normalised, or '' when unset or not a URL.
function configuredHub(): string {
  const raw = vscode.workspace.getConfiguration(section).get<string>('hubUrl', '').trim();
  if (raw === '') {
    return '';
  }
  try {
    return normalizeHub(raw);
  } catch {
    return '';
  }
}

// serverToken is the token given to timon lsp: the sign-in to the
// configured hub, else the pasted one, else none (timon lsp then uses
// TIMON_TOKEN of VS Code's environment, or what timon login stored).
async function serverToken(context: vscode.ExtensionContext): Promise<string | undefined> {
  const hub = configuredHub();
  if (hub) {
    const stored = await context.secrets.get(signInKey(hub));
    if (stored) {
      let c: Credential | undefined;
      try {
        c = JSON.parse(stored) as Credential;
      } catch {
        c = undefined;
      }
      if (c && typeof c.token === 'string' && !expired(c)) {
        return c.token;
      }
      output?.warn(`the sign-in to ${hub} has expired or is unreadable; run timon: Sign In again`);
      const again = 'Sign In';
      void vscode.window
        .showWarningMessage(`timon: your sign-in to ${hub} has expired.`, again)
        .then((pick) => (pick === again ? vscode.commands.executeCommand('timon.signIn') : undefined));
    }
  }
  return (await context.secrets.get(tokenKey)) || undefined;
}

// signIn signs in to the hub through the browser: the hub shows a code,
// the person approves it there, and the token it hands out is kept in
// VS Code's secret storage for that hub.
async function signIn(context: vscode.ExtensionContext): Promise<void> {
  let hub = configuredHub();
  const fromSettings = hub !== '';
  if (!hub) {
    const raw = await vscode.window.showInputBox({
      title: 'timon: sign in',
      prompt: 'Your institution\'s timon hub',
      placeHolder: 'https://timon.example.org',
      ignoreFocusOut: true,
      validateInput: (v) => {
        try {
          normalizeHub(v);
          return undefined;
        } catch (err) {
          return err instanceof Error ? err.message : String(err);
        }
      },
    });
    if (raw === undefined) {
      return;
    }
    hub = normalizeHub(raw);
  }
  const abort = new AbortController();
  let cred: Credential;
  try {
    cred = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `timon: sign in to ${hub}`, cancellable: true },
      async (progress, cancel) => {
        cancel.onCancellationRequested(() => abort.abort());
        progress.report({ message: 'asking the hub for a code…' });
        const a = await startSignIn(hub, `VS Code on ${os.hostname()}`, { signal: abort.signal });
        const url = verificationURL(a);
        output?.info(`sign-in to ${hub}: code ${a.user_code}, approve it at ${url}`);
        progress.report({
          message: `check that your browser shows the code ${a.user_code} and approve it (or open ${url}).`,
        });
        await vscode.env.openExternal(vscode.Uri.parse(url, true));
        return waitForToken(hub, a, { signal: abort.signal });
      },
    );
  } catch (err) {
    if (err instanceof SignInError && err.kind === 'cancelled') {
      void vscode.window.showInformationMessage('timon: sign-in cancelled.');
      return;
    }
    const msg = err instanceof Error ? err.message : String(err);
    output?.error(`sign-in to ${hub}: ${msg}`);
    void vscode.window.showErrorMessage(`timon: sign-in to ${hub} failed: ${msg}`);
    return;
  }
  await context.secrets.store(signInKey(hub), JSON.stringify(cred));
  void vscode.window.showInformationMessage(
    `timon: signed in to ${hub}${cred.user ? ` as ${cred.user}` : ''}.`,
  );
  if (!fromSettings) {
    // Remote mode with this hub from now on; the change restarts the server.
    await vscode.workspace.getConfiguration(section).update('hubUrl', hub, vscode.ConfigurationTarget.Global);
    return;
  }
  await restart(context);
}

// signOut signs out of the configured hub: the hub revokes the token
// (DELETE /v1/tokens/self), then secret storage forgets it. A token the hub
// could not revoke is forgotten all the same, with a warning saying how to
// revoke it.
async function signOut(context: vscode.ExtensionContext): Promise<void> {
  const hub = configuredHub();
  const stored = hub ? await context.secrets.get(signInKey(hub)) : undefined;
  if (!hub || !stored) {
    void vscode.window.showInformationMessage(`timon: not signed in${hub ? ` to ${hub}` : ''}.`);
    return;
  }
  let token: unknown;
  try {
    token = (JSON.parse(stored) as Partial<Credential>).token;
  } catch {
    token = undefined;
  }
  let outcome: 'revoked' | 'not_accepted' | Error;
  if (typeof token === 'string' && token !== '') {
    try {
      outcome = await revokeToken(hub, token);
    } catch (err) {
      outcome = err instanceof Error ? err : new Error(String(err));
    }
  } else {
    outcome = new Error('the stored sign-in is unreadable');
  }
  await context.secrets.delete(signInKey(hub));
  if (outcome === 'revoked') {
    void vscode.window.showInformationMessage(`timon: signed out: the token was revoked on ${hub} and forgotten here.`);
  } else if (outcome === 'not_accepted') {
    void vscode.window.showInformationMessage(
      `timon: signed out: ${hub} no longer accepted the token (revoked or expired already); it is forgotten here.`,
    );
  } else {
    output?.warn(`sign-out of ${hub}: ${outcome.message}`);
    const page = `${hub}/console/#tokens`;
    const open = 'Open the console';
    void vscode.window
      .showWarningMessage(
        `timon: the token was forgotten here, but could not be revoked (${outcome.message}). ` +
          `It may still be valid on the hub until it expires: revoke it on the My timon page of the hub's console (${page}), or ask an administrator.`,
        open,
      )
      .then((pick) => (pick === open ? vscode.env.openExternal(vscode.Uri.parse(page, true)) : undefined));
  }
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
