// Unit tests of the sign-in flow (npm test): a hub on loopback speaking
// the device endpoints' wire protocol, polls answered from a script, the
// interval enforced with slow_down, the token handed out once.

import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import {
  SignInError,
  expired,
  normalizeHub,
  revokeToken,
  startSignIn,
  verificationURL,
  waitForToken,
} from './signin';

const second = 20; // ms: the tests' second

interface FakeHub {
  url: string;
  starts: { client: string; name: string }[];
  // valid are the tokens the hub accepts; DELETE /v1/tokens/self with one
  // of them revokes it (204), with any other answers 401.
  valid: Set<string>;
  polls: { at: number; answer: string }[];
  close(): Promise<void>;
}

// fakeHub answers the polls with answers in order (the last repeats);
// "approve" hands the token out, once.
async function fakeHub(answers: string[], opts: { disabled?: boolean; expiresIn?: number } = {}): Promise<FakeHub> {
  const starts: FakeHub['starts'] = [];
  const polls: FakeHub['polls'] = [];
  let interval = 1 * second;
  let last = 0;
  let given = false;
  const valid = new Set<string>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const send = (status: number, v: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(v));
      };
      const host = `http://${req.headers.host}`;
      if (req.method === 'POST' && req.url === '/auth/device') {
        if (opts.disabled) {
          send(404, { code: 'not_found', message: 'sign-in is not configured on this hub' });
          return;
        }
        starts.push(JSON.parse(body));
        send(200, {
          device_code: 'dc_secret', user_code: 'WDJB-MJHT',
          verification_uri: `${host}/console/device`, verification_uri_complete: `${host}/console/device?code=WDJB-MJHT`,
          expires_in: opts.expiresIn ?? 600, interval: 1,
        });
        return;
      }
      if (req.method === 'POST' && req.url === '/auth/device/token') {
        const now = Date.now();
        let answer = answers[Math.min(polls.length, answers.length - 1)] ?? 'authorization_pending';
        if (JSON.parse(body).device_code !== 'dc_secret' || given) {
          answer = 'expired_token';
        } else if (last !== 0 && now - last < interval) {
          answer = 'slow_down';
        }
        if (answer === 'slow_down') {
          interval += 5 * second;
        }
        last = now;
        polls.push({ at: now, answer });
        if (answer === 'approve') {
          given = true;
          send(200, { access_token: 'timon_tok', token_type: 'Bearer', user: 'ada', expires_at: '2027-03-01T12:00:00Z' });
          return;
        }
        send(400, { error: answer });
        return;
      }
      if (req.method === 'DELETE' && req.url === '/v1/tokens/self' && !opts.disabled) {
        const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
        if (!m || !valid.delete(m[1])) {
          send(401, { code: 'unauthenticated', message: 'unknown token' });
          return;
        }
        res.writeHead(204);
        res.end();
        return;
      }
      send(404, { code: 'not_found', message: 'no such route' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    starts,
    valid,
    polls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

test('normalizeHub keys hubs as timon login does', () => {
  const cases: Record<string, string> = {
    'https://Timon.Example.org/': 'https://timon.example.org',
    'HTTPS://timon.example.org:443': 'https://timon.example.org',
    'http://127.0.0.1:80/': 'http://127.0.0.1',
    'http://127.0.0.1:8080': 'http://127.0.0.1:8080',
    'https://h.example/timon//?x=1#f': 'https://h.example/timon',
    ' https://[::1]:9443/ ': 'https://[::1]:9443',
  };
  for (const [input, want] of Object.entries(cases)) {
    assert.equal(normalizeHub(input), want, input);
  }
  for (const bad of ['', 'timon.example.org', 'ftp://h', 'https://u:p@h']) {
    assert.throws(() => normalizeHub(bad), Error, bad);
  }
});

test('pending, slow_down, approved: the interval is respected and grows by 5 s', async () => {
  const hub = await fakeHub(['authorization_pending', 'slow_down', 'authorization_pending', 'approve']);
  try {
    const a = await startSignIn(hub.url + '/', 'VS Code on box');
    assert.equal(a.user_code, 'WDJB-MJHT');
    assert.equal(verificationURL(a), `${hub.url}/console/device?code=WDJB-MJHT`);
    assert.deepEqual(hub.starts, [{ client: 'vscode', name: 'VS Code on box' }]);
    const c = await waitForToken(hub.url, a, { secondMs: second });
    assert.deepEqual(c, { hub: hub.url, token: 'timon_tok', user: 'ada', expires_at: '2027-03-01T12:00:00Z' });
    assert.deepEqual(hub.polls.map((p) => p.answer), ['authorization_pending', 'slow_down', 'authorization_pending', 'approve']);
    for (let i = 1; i < hub.polls.length; i++) {
      const want = (i >= 2 ? 6 : 1) * second;
      assert.ok(hub.polls[i].at - hub.polls[i - 1].at >= want - 2, `poll ${i} too early`);
    }
    // Handed out once.
    await assert.rejects(waitForToken(hub.url, a, { secondMs: second }), (e: unknown) => e instanceof SignInError && e.kind === 'expired');
  } finally {
    await hub.close();
  }
});

test('denied, expired on the hub, expired while pending, not configured', async () => {
  const cases: [string[], { expiresIn?: number; disabled?: boolean }, string][] = [
    [['authorization_pending', 'access_denied'], {}, 'denied'],
    [['expired_token'], {}, 'expired'],
    [['authorization_pending'], { expiresIn: 4 }, 'expired'],
    [[], { disabled: true }, 'not_configured'],
  ];
  for (const [answers, opts, kind] of cases) {
    const hub = await fakeHub(answers, opts);
    try {
      await assert.rejects(
        (async () => waitForToken(hub.url, await startSignIn(hub.url, 'n'), { secondMs: second }))(),
        (e: unknown) => e instanceof SignInError && e.kind === kind,
        kind,
      );
    } finally {
      await hub.close();
    }
  }
});

test('cancel stops polling', async () => {
  const hub = await fakeHub(['authorization_pending']);
  try {
    const a = await startSignIn(hub.url, 'n');
    const abort = new AbortController();
    const waiting = waitForToken(hub.url, a, { secondMs: second, signal: abort.signal });
    while (hub.polls.length < 2) {
      await new Promise((r) => setTimeout(r, 5));
    }
    abort.abort();
    await assert.rejects(waiting, (e: unknown) => e instanceof SignInError && e.kind === 'cancelled');
  } finally {
    await hub.close();
  }
});

test('expired', () => {
  assert.equal(expired({ hub: 'h', token: 't' }), false);
  assert.equal(expired({ hub: 'h', token: 't', expires_at: '2000-01-01T00:00:00Z' }), true);
  assert.equal(expired({ hub: 'h', token: 't', expires_at: '2999-01-01T00:00:00Z' }), false);
});

test('sign-out revokes the token on the hub: that one only, once', async () => {
  const hub = await fakeHub([]);
  try {
    hub.valid.add('timon_signedin');
    hub.valid.add('timon_other');
    assert.equal(await revokeToken(hub.url + '/', 'timon_signedin'), 'revoked');
    assert.deepEqual([...hub.valid], ['timon_other']);
    // Already revoked: the hub refuses it, which is signed out too.
    assert.equal(await revokeToken(hub.url, 'timon_signedin'), 'not_accepted');
    assert.deepEqual([...hub.valid], ['timon_other']);
  } finally {
    await hub.close();
  }
  // An older hub without the route, and a hub that cannot be reached: the
  // token may still be valid, which the caller must say.
  const older = await fakeHub([], { disabled: true });
  try {
    await assert.rejects(revokeToken(older.url, 'timon_signedin'), /revoking the token on .*: the hub does not offer it \(404/);
  } finally {
    await older.close();
  }
  await assert.rejects(revokeToken(hub.url, 'timon_signedin'), /revoking the token on http:\/\/127\.0\.0\.1:\d+: /);
});
