// Sign-in to a timon hub without copying a token: the device flow of the
// hub (POST /auth/device, the person approves the code in the browser,
// POST /auth/device/token until the hub hands the token out once), as
// `timon login` does it; and signing out, which has the hub revoke the
// token (DELETE /v1/tokens/self) as `timon logout` does. No VS Code API here, so that it is unit-tested
// with Node alone (signin.test.ts).

// Authorization is the hub's answer to the start of a sign-in.
export interface Authorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval: number;
}

// Credential is what a sign-in gives: the personal token for the hub.
export interface Credential {
  hub: string;
  token: string;
  user?: string;
  expires_at?: string;
}

// SignInError says why a sign-in ended without a token: kind is denied,
// expired, not_configured, cancelled or failed.
export class SignInError extends Error {
  constructor(
    readonly kind: 'denied' | 'expired' | 'not_configured' | 'cancelled' | 'failed',
    message: string,
  ) {
    super(message);
    this.name = 'SignInError';
  }
}

export interface SignInOptions {
  // signal cancels the sign-in (the notification's Cancel button).
  signal?: AbortSignal;
  // fetch is the HTTP client (the global one by default).
  fetch?: typeof fetch;
  // secondMs is the length of the hub's second: 1000 but in tests.
  secondMs?: number;
}

// normalizeHub is the hub's URL as timon login keys it: lower-case scheme
// and host, no default port, no trailing slash, query or fragment. It
// throws on anything but an http(s) URL with a host and no credentials.
export function normalizeHub(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new Error(`expected the hub's URL, such as https://timon.example.org, got "${raw}"`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') {
    throw new Error(`expected the hub's http(s) URL, such as https://timon.example.org, got "${raw}"`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new Error('expected no user or password in the hub\'s URL');
  }
  // URL already lowers the host and drops the scheme's default port.
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

// startSignIn asks the hub for a code; client is "vscode", name the
// token's suggested name.
export async function startSignIn(
  hub: string,
  name: string,
  opts: SignInOptions = {},
): Promise<Authorization> {
  const base = normalizeHub(hub);
  const res = await post(`${base}/auth/device`, { client: 'vscode', name }, opts);
  if (res.status === 404) {
    throw new SignInError(
      'not_configured',
      `${base} does not offer sign-in: ${errorMessage(res.body) || 'is it a timon hub, and a recent one?'} Ask your hub's administrators, or paste a personal token (timon: Set Personal Token).`,
    );
  }
  if (res.status !== 200) {
    throw new SignInError('failed', `starting sign-in at ${base}: the hub answered ${res.status} ${errorMessage(res.body)}`);
  }
  const a = res.body as Partial<Authorization> | undefined;
  if (
    !a ||
    typeof a.device_code !== 'string' ||
    a.device_code === '' ||
    typeof a.user_code !== 'string' ||
    !/^[A-Za-z0-9-]{1,20}$/.test(a.user_code) ||
    !isWebURL(a.verification_uri) ||
    (a.verification_uri_complete !== undefined && !isWebURL(a.verification_uri_complete))
  ) {
    throw new SignInError('failed', `starting sign-in at ${base}: unexpected answer from the hub`);
  }
  return {
    device_code: a.device_code,
    user_code: a.user_code,
    verification_uri: a.verification_uri as string,
    verification_uri_complete: a.verification_uri_complete,
    expires_in: typeof a.expires_in === 'number' && a.expires_in > 0 ? a.expires_in : 600,
    interval: typeof a.interval === 'number' && a.interval > 0 ? a.interval : 5,
  };
}

// verificationURL is the page to open: the one with the code in it when
// the hub gives it.
export function verificationURL(a: Authorization): string {
  return a.verification_uri_complete || a.verification_uri;
}

// waitForToken polls the hub every interval (5 s more after each
// slow_down) until the sign-in is approved, denied, expired or cancelled.
// Network failures and 5xx answers are retried until the code expires.
export async function waitForToken(hub: string, a: Authorization, opts: SignInOptions = {}): Promise<Credential> {
  const base = normalizeHub(hub);
  const second = opts.secondMs ?? 1000;
  let interval = a.interval * second;
  const deadline = Date.now() + a.expires_in * second;
  let lastError = '';
  for (;;) {
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), opts.signal);
    if (Date.now() >= deadline) {
      throw new SignInError(
        'expired',
        'The code expired before the sign-in was approved' + (lastError ? ` (the hub could not be reached: ${lastError})` : '') + '.',
      );
    }
    let res: { status: number; body: unknown };
    try {
      res = await post(`${base}/auth/device/token`, { device_code: a.device_code }, opts);
    } catch (err) {
      if (opts.signal?.aborted) {
        throw new SignInError('cancelled', 'Sign-in cancelled.');
      }
      lastError = err instanceof Error ? err.message : String(err);
      continue;
    }
    if (res.status === 200) {
      const t = res.body as { access_token?: unknown; token_type?: unknown; user?: unknown; expires_at?: unknown };
      if (typeof t?.access_token !== 'string' || t.access_token === '' ||
        (typeof t.token_type === 'string' && t.token_type.toLowerCase() !== 'bearer')) {
        throw new SignInError('failed', 'collecting the token: the hub gave no bearer token');
      }
      return {
        hub: base,
        token: t.access_token,
        user: typeof t.user === 'string' ? t.user : undefined,
        expires_at: typeof t.expires_at === 'string' && t.expires_at !== '' ? t.expires_at : undefined,
      };
    }
    if (res.status === 400) {
      switch (errorCode(res.body)) {
        case 'authorization_pending':
          lastError = '';
          continue;
        case 'slow_down':
          lastError = '';
          interval += 5 * second;
          continue;
        case 'access_denied':
          throw new SignInError('denied', 'The sign-in was denied in the browser.');
        case 'expired_token':
          throw new SignInError('expired', 'The code expired (or was already used) before the sign-in was approved.');
      }
    }
    if (res.status >= 500 || res.status === 429) {
      lastError = `the hub answered ${res.status}`;
      continue;
    }
    throw new SignInError('failed', `collecting the token: the hub answered ${res.status} ${errorMessage(res.body)}`);
  }
}

// RevokeOptions configure revokeToken.
export interface RevokeOptions {
  // fetch is the HTTP client (the global one by default).
  fetch?: typeof fetch;
  // timeoutMs bounds the call: 10 s by default.
  timeoutMs?: number;
}

// revokeToken has the hub revoke token, the one presented (DELETE
// /v1/tokens/self), as timon logout does: 'revoked', or 'not_accepted'
// when the hub already refuses it (401: revoked, expired or unknown, it
// is no longer valid there). It throws when the hub could not be reached
// or answered otherwise: the token may then still be valid.
export async function revokeToken(hub: string, token: string, opts: RevokeOptions = {}): Promise<'revoked' | 'not_accepted'> {
  const base = normalizeHub(hub);
  const f = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await f(`${base}/v1/tokens/self`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new Error(`revoking the token on ${base}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = (await res.text().catch(() => '')).slice(0, 1 << 20);
  if (res.status === 204 || res.status === 200) {
    return 'revoked';
  }
  if (res.status === 401) {
    return 'not_accepted';
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status === 404 || res.status === 405) {
    throw new Error(`revoking the token on ${base}: the hub does not offer it (${res.status}; an older hub?)`);
  }
  throw new Error(`revoking the token on ${base}: the hub answered ${res.status} ${errorMessage(body)}`.trim());
}

// expired reports whether a credential is past its expiry at now.
export function expired(c: Credential, now: Date = new Date()): boolean {
  if (!c.expires_at) {
    return false;
  }
  const t = Date.parse(c.expires_at);
  return !Number.isNaN(t) && now.getTime() >= t;
}

async function post(url: string, body: unknown, opts: SignInOptions): Promise<{ status: number; body: unknown }> {
  const f = opts.fetch ?? fetch;
  const timeout = AbortSignal.timeout(30_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await f(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (opts.signal?.aborted) {
      throw new SignInError('cancelled', 'Sign-in cancelled.');
    }
    throw err;
  }
  const text = (await res.text()).slice(0, 1 << 20);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed };
}

// errorCode is the OAuth-style error of a poll, {"error":"slow_down"}, or
// the code of the hub's usual error body, {"code":…,"message":…}.
function errorCode(body: unknown): string {
  const b = body as { error?: unknown; code?: unknown } | undefined;
  if (typeof b?.error === 'string') {
    return b.error;
  }
  return typeof b?.code === 'string' ? b.code : '';
}

// errorMessage is the message of the hub's error body, printable and
// short.
function errorMessage(body: unknown): string {
  const msg = (body as { message?: unknown } | undefined)?.message;
  const s = typeof msg === 'string' ? msg : errorCode(body);
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, 200);
}

function isWebURL(s: unknown): boolean {
  if (typeof s !== 'string') {
    return false;
  }
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new SignInError('cancelled', 'Sign-in cancelled.'));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new SignInError('cancelled', 'Sign-in cancelled.'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
