// jwtauth browser demo: cookie mode without a framework, with DPoP.
"use strict";

(() => {
  const cfg = document.body.dataset;
  const auth = cfg.auth;           // where /login, /refresh, … are mounted ("" or "/auth")
  const protectedPath = cfg.protected;
  const csrfHeader = cfg.csrfHeader;
  // Only a hint that a refresh cookie may exist (the cookie itself is
  // HttpOnly): it saves a pointless refresh when the page loads.
  const hintKey = "jwtauth-demo-session";

  let accessToken = null; // in memory only: never in localStorage or a readable cookie
  let tokenType = "Bearer"; // "DPoP" when the server bound the token to this page's key
  let refreshes = 0;
  let refreshing = null;  // the refresh in flight, shared by concurrent callers

  const $ = (id) => document.getElementById(id);

  function log(text, isError) {
    const li = document.createElement("li");
    li.textContent = new Date().toLocaleTimeString() + " " + text;
    if (isError) li.className = "error";
    $("log").append(li);
  }

  function setStatus(text) { $("status").textContent = text; }

  function describe(res, body) {
    if (body && body.error) return res.status + " " + body.error + ": " + body.error_description;
    return String(res.status);
  }

  // DPoP (RFC 9449): one ECDSA P-256 key pair per origin, made by WebCrypto
  // as non-extractable (no script, this one included, can read the private
  // key; it can only ask the browser to sign) and kept in IndexedDB, which
  // browsers scope by origin, port included. Every login, refresh and API
  // call carries a fresh proof signed by it, and the server binds the
  // session to its thumbprint: a refresh cookie read or overwritten by
  // another port of the host is useless without this key.
  const dpop = { keys: null, jwk: null, nonce: null };
  const utf8 = (s) => new TextEncoder().encode(s);
  const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  // idb runs fn(store) in a transaction of the "dpop" store of the
  // "jwtauth-demo" database and resolves with the result of its request
  // once the transaction has committed (a write that then aborts, say
  // over quota, rejects: the page must not use a key it did not store).
  function idb(mode, fn) {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open("jwtauth-demo", 1);
      open.onupgradeneeded = () => open.result.createObjectStore("dpop");
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        const tx = db.transaction("dpop", mode);
        const req = fn(tx.objectStore("dpop"));
        tx.oncomplete = () => { db.close(); resolve(req.result); };
        tx.onabort = tx.onerror = () => { db.close(); reject(req.error || tx.error); };
      };
    });
  }

  // loadKey gets the origin's key pair from IndexedDB or makes and stores
  // it. Tabs that load at once take a Web Lock first, so that they all
  // end up with the one key the first of them stored.
  async function loadKey() {
    if (!window.crypto || !crypto.subtle || !window.indexedDB) throw new Error("this browser has no WebCrypto or IndexedDB here");
    const getOrCreate = async () => {
      let keys = await idb("readonly", (st) => st.get("key"));
      if (!keys) {
        keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false /* non-extractable */, ["sign", "verify"]);
        try {
          // add, not put: without Web Locks another tab may have stored its
          // key meanwhile, and then every tab must use that one.
          await idb("readwrite", (st) => st.add(keys, "key")); // the CryptoKey objects, not their bytes
        } catch (e) {
          if (!e || e.name !== "ConstraintError") throw e;
          keys = await idb("readonly", (st) => st.get("key"));
        }
      }
      return keys;
    };
    const keys = navigator.locks ? await navigator.locks.request("jwtauth-dpop-key", getOrCreate) : await getOrCreate();
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", keys.publicKey); // the public half only
    dpop.keys = keys;
    dpop.jwk = { kty, crv, x, y };
    // RFC 7638: SHA-256 of the required members in lexical order.
    const jkt = b64u(await crypto.subtle.digest("SHA-256", utf8(JSON.stringify({ crv, kty, x, y }))));
    $("dpop").textContent = jkt;
    log("DPoP key (ECDSA P-256, non-extractable, kept in IndexedDB): thumbprint " + jkt);
  }

  // proof signs a DPoP proof (RFC 9449 §4.2) for method and path (resolved
  // against the page: htu is the URL fetched, without query and fragment),
  // with ath for token (§4.3) and the server's nonce, if any (§8, §9).
  async function proof(method, path, token) {
    const u = new URL(path, document.baseURI);
    u.search = "";
    u.hash = "";
    const claims = { jti: b64u(crypto.getRandomValues(new Uint8Array(16))), htm: method, htu: u.href, iat: Math.floor(Date.now() / 1000) };
    if (token) claims.ath = b64u(await crypto.subtle.digest("SHA-256", utf8(token)));
    if (dpop.nonce) claims.nonce = dpop.nonce;
    const input = b64u(utf8(JSON.stringify({ typ: "dpop+jwt", alg: "ES256", jwk: dpop.jwk }))) + "." + b64u(utf8(JSON.stringify(claims)));
    // WebCrypto's ECDSA signature is R‖S, 64 bytes: JWS ES256's form (RFC 7518 §3.4).
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, dpop.keys.privateKey, utf8(input));
    return input + "." + b64u(sig);
  }

  // send makes a same-origin request and returns [response, parsed JSON or
  // null]. With signed (and a key), it carries a DPoP proof, for token
  // (its ath) when given; a use_dpop_nonce answer (400 at /login and
  // /refresh, 401 at a resource) with a DPoP-Nonce is retried once with
  // the nonce.
  async function send(method, path, { json, headers = {}, signed = false, token = null } = {}) {
    for (let attempt = 0; ; attempt++) {
      const init = { method, headers: { ...headers }, credentials: "same-origin", cache: "no-store" };
      if (json !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(json);
      }
      if (signed && dpop.keys) init.headers.DPoP = await proof(method, path, token);
      const res = await fetch(path, init);
      let body = null;
      if ((res.headers.get("Content-Type") || "").startsWith("application/json")) body = await res.json();
      const nonce = res.headers.get("DPoP-Nonce");
      if (nonce) dpop.nonce = nonce;
      const useNonce = (body && body.error === "use_dpop_nonce") || (res.headers.get("WWW-Authenticate") || "").includes("use_dpop_nonce");
      if (!(signed && dpop.keys && useNonce && nonce && attempt === 0)) return [res, body];
      log(method + " " + path + ": the server asks for its DPoP nonce; retrying");
    }
  }

  function credentials() {
    return { username: $("username").value, password: $("password").value };
  }

  function loggedIn(body, how) {
    accessToken = body.access_token;
    tokenType = body.token_type === "DPoP" ? "DPoP" : "Bearer";
    localStorage.setItem(hintKey, "1");
    const sub = JSON.parse(atob(accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
    setStatus("logged in as " + sub);
    log(how + ": " + tokenType + " access token for " + sub + (tokenType === "DPoP" ? " (bound to this page's key)" : "") +
      " (expires in " + body.expires_in + " s), refresh token in an HttpOnly cookie");
  }

  function loggedOut(why) {
    accessToken = null;
    tokenType = "Bearer";
    localStorage.removeItem(hintKey);
    setStatus("logged out");
    if (why) log(why);
  }

  async function register() {
    const [res, body] = await send("POST", auth + "/register", { json: credentials() });
    log(res.ok ? "registered " + $("username").value : "register failed: " + describe(res, body), !res.ok);
  }

  async function login(event) {
    if (event) event.preventDefault();
    await ready;
    const [res, body] = await send("POST", auth + "/login", { json: credentials(), signed: true });
    if (!res.ok) {
      log("login failed: " + describe(res, body), true);
      return;
    }
    $("password").value = "";
    loggedIn(body, "logged in");
  }

  // refresh trades the refresh cookie for a new access token (and a new
  // cookie); the body names no token, the CSRF header is what the server checks.
  // Every tab of the site shares the one cookie, and a refresh token works
  // once: two tabs refreshing at once would send the same token twice, which
  // the server takes for reuse and answers by revoking the session. So the
  // refreshes of all tabs run one at a time (Web Locks, in secure contexts
  // such as https and http://127.0.0.1), each sending the cookie the
  // previous one set.
  function refresh() {
    if (!refreshing) {
      const run = async () => {
        await ready;
        const [res, body] = await send("POST", auth + "/refresh", { json: {}, headers: { [csrfHeader]: "1" }, signed: true });
        if (!res.ok) {
          loggedOut("refresh refused: " + describe(res, body));
          return false;
        }
        loggedIn(body, "refreshed");
        return true;
      };
      const locked = navigator.locks ? navigator.locks.request("jwtauth-refresh", run) : run();
      refreshing = locked.finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  async function callProtected() {
    // A DPoP-bound token goes with the DPoP scheme and a proof for it
    // (RFC 9449 §7.1); a bearer token alone (the server issued no bound one).
    const get = () => send("GET", protectedPath, {
      headers: accessToken ? { Authorization: tokenType + " " + accessToken } : {},
      signed: accessToken !== null && tokenType === "DPoP", token: accessToken,
    });
    $("result").textContent = "calling…";
    let [res, body] = await get();
    if (res.status === 401 && accessToken) {
      log("the access token was refused (" + describe(res, body) + "): refreshing silently");
      if (await refresh()) {
        refreshes++;
        $("refreshes").textContent = String(refreshes);
        [res, body] = await get();
      }
    }
    $("result").textContent = res.status + " " + JSON.stringify(body, null, 2);
    log("GET " + protectedPath + ": " + describe(res, body), !res.ok);
  }

  async function logout() {
    const [res, body] = await send("POST", auth + "/logout", { json: {}, headers: { [csrfHeader]: "1" } });
    if (res.status === 204) {
      loggedOut("logged out: the refresh-token family is revoked and the cookie cleared");
    } else {
      log("logout failed: " + describe(res, body), true);
      if (res.status < 500) loggedOut();
    }
    $("result").textContent = "(logged out)";
  }

  function guard(fn) {
    return (event) => fn(event).catch((err) => log("request failed: " + err, true));
  }

  $("credentials").addEventListener("submit", guard(login));
  $("register").addEventListener("click", guard(register));
  $("call").addEventListener("click", guard(callProtected));
  $("refresh").addEventListener("click", guard(refresh));
  $("logout").addEventListener("click", guard(logout));

  // Without a key (no WebCrypto or IndexedDB, a private window that
  // refuses storage), the page goes on with bearer tokens.
  const ready = loadKey().catch((err) => {
    dpop.keys = null;
    $("dpop").textContent = "none";
    log("no DPoP key (" + err + "): bearer tokens only, which another port of this host could take over", true);
  });

  // After a reload the access token is gone but the cookie may remain.
  if (localStorage.getItem(hintKey)) {
    guard(refresh)().then(() => { if (!accessToken) setStatus("logged out"); });
  } else {
    setStatus("logged out");
  }
})();
