// A real OpenID provider for Keyward's single sign-on tests: panva's oidc-provider
// (OpenID Certified), from a small configuration, on 127.0.0.1 only.
//
//   node tests/oidc/provider.mjs [--port N]
//
// Prints one line `LISTENING http://127.0.0.1:PORT` on stdout once it answers; the issuer is
// that URL. The tests steer it through /__test/* (JSON over POST), which a real provider does
// not have and which only listen on loopback:
//
//   /__test/client   {client_id, client_secret, redirect_uris}: register (or replace) a client
//   /__test/account  {sub, email, email_verified?, name?}: the claims a sign-in as `sub` gets
//   /__test/login    {sub}: the account the next interaction signs in as, with consent
//   /__test/mode     {id_token: "normal" | "expired" | "wrong_nonce" | "wrong_issuer"}:
//                    how the token endpoint's ID tokens are tampered with (re-signed with the
//                    provider's own key, so only the claim is wrong)
//   /__test/rotate   {}: a new signing key; the old one is no longer published
//
// People in a browser sign in at /interaction/:uid with a one-field form (the account's
// `sub`), for the Chromium test; /interaction/:uid/login finishes it with consent granted.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const argPort = process.argv.indexOf('--port');
const port = argPort > 0 ? Number(process.argv[argPort + 1]) : 0;

const clients = new Map();   // client_id -> metadata
const accounts = new Map();  // sub -> claims
let nextLogin = null;        // the sub the next interaction signs in as
let tokenMode = 'normal';
let signingKey = null;       // the private JWK currently published
let provider = null;

// Storage for the provider's models (sessions, codes, grants...), kept across key
// rotations; clients come from `clients`.
const stores = new Map();
class MemoryAdapter {
  constructor(model) { this.model = model; if (!stores.has(model)) stores.set(model, new Map()); this.store = stores.get(model); }
  key(id) { return id; }
  async upsert(id, payload, expiresIn) { this.store.set(id, { payload, expires: expiresIn ? Date.now() + expiresIn * 1000 : null }); if (payload.uid) uidIndex.set(payload.uid, id); if (payload.userCode) userCodes.set(payload.userCode, id); }
  async find(id) {
    if (this.model === 'Client') { const c = clients.get(id); return c ? { ...c } : undefined; }
    const row = this.store.get(id);
    if (!row) return undefined;
    if (row.expires && row.expires < Date.now()) { this.store.delete(id); return undefined; }
    return row.payload;
  }
  async findByUid(uid) { const id = uidIndex.get(uid); return id ? this.find(id) : undefined; }
  async findByUserCode(code) { const id = userCodes.get(code); return id ? this.find(id) : undefined; }
  async consume(id) { const row = this.store.get(id); if (row) row.payload.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { this.store.delete(id); }
  async revokeByGrantId(grantId) { for (const [id, row] of this.store) if (row.payload.grantId === grantId) this.store.delete(id); }
}
const uidIndex = new Map();
const userCodes = new Map();

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = randomUUID();
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return jwk;
}

function build(issuer) {
  const p = new Provider(issuer, {
    adapter: MemoryAdapter,
    jwks: { keys: [signingKey] },
    clients: [],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'email', 'profile'],
    conformIdTokenClaims: false,
    ttl: { IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['keyward-test-provider-cookie-key'] },
    async findAccount(ctx, sub) {
      const claims = accounts.get(sub);
      if (!claims) return undefined;
      return { accountId: sub, async claims() { return { sub, ...claims }; } };
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>Provider error</title><h1>${escape(out.error)}</h1><p>${escape(out.error_description || '')}</p>`;
    },
  });
  p.proxy = false;
  return p;
}

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readJson(req) {
  let body = '';
  for await (const chunk of req) { body += chunk; if (body.length > 65536) throw new Error('body too large'); }
  return body ? JSON.parse(body) : {};
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) { body += chunk; if (body.length > 65536) throw new Error('body too large'); }
  return new URLSearchParams(body);
}

function send(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

// The token endpoint's answer, with its ID token re-signed with a wrong claim when asked.
async function tamper(body) {
  if (tokenMode === 'normal') return body;
  const answer = JSON.parse(body);
  if (!answer.id_token) return body;
  const claims = jose.decodeJwt(answer.id_token);
  const now = Math.floor(Date.now() / 1000);
  if (tokenMode === 'expired') { claims.iat = now - 7200; claims.exp = now - 3600; }
  if (tokenMode === 'wrong_nonce') claims.nonce = 'not-the-nonce-keyward-sent';
  if (tokenMode === 'wrong_issuer') claims.iss = `${claims.iss}/other`;
  const key = await jose.importJWK(signingKey, 'RS256');
  answer.id_token = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid, typ: 'JWT' })
    .sign(key);
  return JSON.stringify(answer);
}

async function handle(req, res, issuer) {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/__test/') && req.method === 'POST') {
      const body = await readJson(req);
      switch (url.pathname) {
        case '/__test/client':
          clients.set(body.client_id, {
            client_id: body.client_id,
            client_secret: body.client_secret,
            redirect_uris: body.redirect_uris,
            grant_types: ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
          });
          return send(res, 200, { ok: true });
        case '/__test/account':
          accounts.set(body.sub, { email: body.email, email_verified: body.email_verified, name: body.name });
          return send(res, 200, { ok: true });
        case '/__test/login':
          nextLogin = body.sub;
          return send(res, 200, { ok: true });
        case '/__test/mode':
          tokenMode = body.id_token || 'normal';
          return send(res, 200, { ok: true });
        case '/__test/rotate':
          signingKey = await newKey();
          provider = build(issuer);
          return send(res, 200, { ok: true, kid: signingKey.kid });
        default:
          return send(res, 404, { error: 'no such test route' });
      }
    }
    const interaction = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (interaction) {
      const details = await provider.interactionDetails(req, res);
      if (!interaction[2]) {
        res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
        return res.end(`<!doctype html><title>Test provider: sign in</title>
<form method="post" action="/interaction/${escape(details.uid)}/login">
<label>Account <input name="sub" id="sub" value="${escape(nextLogin || '')}"></label>
<button type="submit" id="provider-sign-in">Sign in and allow</button></form>`);
      }
      const form = req.method === 'POST' ? await readForm(req) : new URLSearchParams();
      const sub = form.get('sub') || nextLogin;
      if (!sub || !accounts.has(sub)) {
        return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'no such account at the test provider' }, { mergeWithLastSubmission: false });
      }
      const grant = new provider.Grant({ accountId: sub, clientId: details.params.client_id });
      grant.addOIDCScope('openid email profile');
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { login: { accountId: sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
    }
    if (url.pathname === '/token' && tokenMode !== 'normal') {
      // Capture the provider's answer and tamper with its ID token.
      const chunks = [];
      const write = res.write.bind(res);
      const end = res.end.bind(res);
      res.write = (chunk) => { chunks.push(Buffer.from(chunk)); return true; };
      res.end = (chunk) => {
        if (chunk) chunks.push(Buffer.from(chunk));
        tamper(Buffer.concat(chunks).toString()).then((body) => {
          res.removeHeader('content-length');
          res.write = write;
          end(body);
        });
        return res;
      };
    }
    return provider.callback()(req, res);
  } catch (e) {
    if (!res.headersSent) send(res, 500, { error: String(e && e.message || e) });
    else res.end();
  }
}

signingKey = await newKey();
const server = http.createServer((req, res) => handle(req, res, issuer));
server.listen(port, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
provider = build(issuer);
process.stdout.write(`LISTENING ${issuer}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
