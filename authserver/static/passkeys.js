// Passkey ceremonies (WebAuthn): fetch options from the server, ask the authenticator, and
// submit its answer in the page's form. The buttons stay hidden where WebAuthn is missing.
"use strict";
(function () {
  function toBytes(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  }

  function toText(buffer) {
    let raw = "";
    new Uint8Array(buffer).forEach((b) => { raw += String.fromCharCode(b); });
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map((c) => Object.assign({}, c, { id: toBytes(c.id) }));
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: withIds(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: withIds(json.allowCredentials),
    });
  }

  function answer(credential) {
    if (credential.toJSON) return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment,
    };
  }

  async function ceremony(button, form) {
    const csrf = form.querySelector("input[name=csrf_token]").value;
    const reply = await fetch(button.dataset.options, {
      method: "POST",
      headers: { "X-CSRFToken": csrf },
      credentials: "same-origin",
    });
    if (!reply.ok) throw new Error("The server did not start the passkey request.");
    const options = await reply.json();
    const credential = button.dataset.passkey === "register"
      ? await navigator.credentials.create({ publicKey: creationOptions(options) })
      : await navigator.credentials.get({ publicKey: requestOptions(options) });
    form.elements.credential.value = JSON.stringify(answer(credential));
    form.submit();
  }

  if (!window.PublicKeyCredential) return;
  document.querySelectorAll("[data-passkey-note]").forEach((note) => { note.hidden = true; });
  document.querySelectorAll("button[data-passkey]").forEach((button) => {
    const form = document.getElementById(button.dataset.form);
    const error = form.querySelector("[data-passkey-error]");
    button.hidden = false;
    button.addEventListener("click", () => {
      error.hidden = true;
      ceremony(button, form).catch((e) => {
        error.textContent = "The passkey was not used: " + (e && e.message ? e.message : e);
        error.hidden = false;
      });
    });
  });
})();
