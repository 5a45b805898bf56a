// jwtauth browser demo: cookie mode without a framework.
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

  // send makes a same-origin request and returns [response, parsed JSON or null].
  async function send(method, path, { json, headers = {} } = {}) {
    const init = { method, headers: { ...headers }, credentials: "same-origin", cache: "no-store" };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    const res = await fetch(path, init);
    let body = null;
    if ((res.headers.get("Content-Type") || "").startsWith("application/json")) body = await res.json();
    return [res, body];
  }

  function credentials() {
    return { username: $("username").value, password: $("password").value };
  }

  function loggedIn(body, how) {
    accessToken = body.access_token;
    localStorage.setItem(hintKey, "1");
    const sub = JSON.parse(atob(accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
    setStatus("logged in as " + sub);
    log(how + ": access token for " + sub + " (expires in " + body.expires_in + " s), refresh token in an HttpOnly cookie");
  }

  function loggedOut(why) {
    accessToken = null;
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
    const [res, body] = await send("POST", auth + "/login", { json: credentials() });
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
        const [res, body] = await send("POST", auth + "/refresh", { json: {}, headers: { [csrfHeader]: "1" } });
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
    const get = () => send("GET", protectedPath, {
      headers: accessToken ? { Authorization: "Bearer " + accessToken } : {},
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

  // After a reload the access token is gone but the cookie may remain.
  if (localStorage.getItem(hintKey)) {
    guard(refresh)().then(() => { if (!accessToken) setStatus("logged out"); });
  } else {
    setStatus("logged out");
  }
})();
