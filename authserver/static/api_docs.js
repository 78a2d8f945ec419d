// The admin API reference page: built in the browser from the served OpenAPI document.
"use strict";
const specUrl = document.getElementById("operations").dataset.spec;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function resolve(spec, schema) {
  if (schema && schema.$ref) return spec.components.schemas[schema.$ref.split("/").pop()];
  return schema;
}

function example(spec, schema, depth = 0) {
  schema = resolve(spec, schema) || {};
  if (depth > 4) return null;
  if (schema.default !== undefined) return schema.default;
  if (schema.anyOf) return example(spec, schema.anyOf[0], depth + 1);
  if (schema.enum) return schema.enum[0];
  if (schema.const !== undefined) return schema.const;
  switch (schema.type) {
    case "object": {
      const out = {};
      for (const name of schema.required || []) out[name] = example(spec, schema.properties[name], depth + 1);
      return out;
    }
    case "array": return [];
    case "integer": case "number": return schema.minimum || 0;
    case "boolean": return false;
    default: return "";
  }
}

function operationView(spec, path, method, op) {
  const params = op.parameters || [];
  const inputs = {};
  const form = el("div");
  for (const p of params) {
    inputs[p.name] = el("input", {placeholder: p.in + (p.required ? ", required" : "")});
    form.append(el("label", {}, `${p.name} (${p.in})`, inputs[p.name]));
  }
  let body = null;
  if (op.requestBody) {
    const schema = op.requestBody.content["application/json"].schema;
    body = el("textarea", {rows: 6});
    body.value = JSON.stringify(example(spec, schema), null, 2);
    form.append(el("label", {}, "JSON body", body));
  }
  const output = el("pre");
  const send = el("button", {type: "button"}, "Send");
  send.addEventListener("click", async () => {
    let url = spec.servers[0].url.replace(/^https?:\/\/[^/]+/, "") + path;
    const query = new URLSearchParams();
    const headers = {Authorization: "Bearer " + document.getElementById("token").value.trim()};
    for (const p of params) {
      const value = inputs[p.name].value;
      if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(value));
      else if (p.in === "query" && value) query.set(p.name, value);
      else if (p.in === "header" && value) headers[p.name] = value;
    }
    if ([...query].length) url += "?" + query;
    const init = {method: method.toUpperCase(), headers};
    if (body) { headers["Content-Type"] = "application/json"; init.body = body.value; }
    const response = await fetch(url, init);
    const text = await response.text();
    const shown = ["etag", "location", "deprecation", "sunset", "link", "www-authenticate"]
      .filter(h => response.headers.get(h)).map(h => `${h}: ${response.headers.get(h)}`);
    output.textContent = `${response.status}\n${shown.join("\n")}\n\n${text}`;
  });
  const title = el("summary", {},
    el("span", {class: "method"}, method.toUpperCase()), el("code", {}, path), " ", op.summary);
  if (op.deprecated) title.classList.add("deprecated");
  const responses = Object.keys(op.responses).join(", ");
  return el("details", {}, title,
    el("p", {}, "Permission: ", el("code", {}, op["x-permission"]), ` · responses: ${responses}`
      + (op.deprecated ? " · deprecated" : "")),
    form, send, output);
}

fetch(specUrl).then(r => r.json()).then(spec => {
  const root = document.getElementById("operations");
  root.textContent = "";
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      (byTag[op.tags[0]] ||= []).push(operationView(spec, path, method, op));
    }
  }
  for (const [tag, views] of Object.entries(byTag)) root.append(el("h2", {}, tag), ...views);
});
