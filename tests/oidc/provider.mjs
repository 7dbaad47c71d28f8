// Test-only: a certified OpenID Connect provider (oidc-provider from npm) for Doorloop's
// browser test of the municipal login. Usage: node provider.mjs PORT REDIRECT_URI
// Its development login screen accepts any password; the accounts below give the claims.
import Provider from 'oidc-provider';

const [port, redirect] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const accounts = {
  'w.wmo': { name: 'Wendy Wmo', email: 'w.wmo@gemeente.test', groups: ['doorloop-wmo'] },
  'n.nieuw': { name: 'Nina Nieuw', email: 'n.nieuw@gemeente.test', groups: ['personeel'] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'doorloop',
    client_secret: 'test-geheim-voor-doorloop-0123456789',
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email', 'email_verified'],
  },
  // Profile claims in the ID token itself, as Keycloak and Entra ID put groups there.
  conformIdTokenClaims: false,
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      preferred_username: sub,
      email_verified: true,
      ...(accounts[sub] || { name: sub, groups: [] }),
    }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['doorloop-test-cookie-key'] },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => {
  console.log('ready');
});
