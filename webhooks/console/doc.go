// Package console is the hub's face for people: sign-in with the
// institution's OpenID Connect provider (authorization code with PKCE,
// state and nonce checked, ID token verified), browser sessions in
// cookies, the "My timon" page with the person's personal tokens and the
// setup of their editor, the approval page of the editors' device sign-in
// (timon login, and its JSON endpoints /auth/device and
// /auth/device/token), and the administrators' console.
//
// Pages are server-rendered with html/template from embedded templates,
// work without JavaScript, carry a strict Content-Security-Policy, and
// speak French and English (one catalogue per language in i18n/). Every
// POST form carries a token bound to the session. Other packages fill the
// usage, requests and charts sections through Section; the console owns no
// journal data.
//
// The Console is an http.Handler for the paths under /console/ and /auth/;
// Wrap mounts it in front of the hub's own handler.
package console
