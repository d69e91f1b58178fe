// Passkeys (README "Passkeys"): the browser half of the WebAuthn ceremonies. The server sends
// options as JSON (WebAuthn Level 3 §5.1.8 / §5.1.9 JSON forms); the browser parses them,
// runs the ceremony, and the credential goes back as JSON with the page's CSRF token.
"use strict";

(function () {
  const supported = window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function";

  function show(element, message) {
    if (!element) return;
    element.textContent = message;
    element.hidden = false;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({ error: "The service did not answer." }));
    if (!response.ok) throw new Error(data.error || "Something went wrong.");
    return data;
  }

  function failure(error) {
    // The person closed the dialog or the authenticator said no: a plain sentence, no stack.
    if (error && error.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
    if (error && error.name === "InvalidStateError") return "That passkey is registered already.";
    return (error && error.message) || "Something went wrong.";
  }

  const add = document.getElementById("passkey-add");
  if (add) {
    const status = document.getElementById("passkey-status");
    if (!supported) {
      show(status, "This browser cannot create passkeys.");
    } else {
      add.hidden = false;
      add.addEventListener("submit", async (event) => {
        event.preventDefault();
        const csrf = add.elements.csrf_token.value;
        try {
          const options = await post("/account/passkeys/options", {
            csrf_token: csrf, current_password: add.elements.current_password.value,
          });
          const credential = await navigator.credentials.create({
            publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
          });
          const done = await post("/account/passkeys", {
            csrf_token: csrf, name: add.elements.name.value, credential: credential.toJSON(),
          });
          window.location.assign(done.redirect);
        } catch (error) {
          show(status, failure(error));
        }
      });
    }
  }

  // Signing in (login page) and the second step after a password (two-step page) are the
  // same ceremony against two endpoints.
  function assertion(formId, endpoint) {
    const form = document.getElementById(formId);
    if (!form || !supported) return;
    const status = document.getElementById(formId + "-status");
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = {
        csrf_token: form.elements.csrf_token.value,
        request_id: form.elements.request_id.value,
        next: form.elements.next.value,
      };
      try {
        const options = await post(endpoint + "/options", fields);
        const credential = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
        });
        const done = await post(endpoint, { ...fields, credential: credential.toJSON() });
        window.location.assign(done.redirect);
      } catch (error) {
        show(status, failure(error));
      }
    });
  }

  assertion("passkey-sign-in", "/login/passkey");
  assertion("passkey-second-factor", "/login/second-factor/passkey");
})();
