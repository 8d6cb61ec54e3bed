/* Agent console: queue of handed-over sessions, transcript, copilot suggestions, send/accept/reject, close.
 * The agent types the token once; it lives in this tab's sessionStorage and travels only in the Authorization
 * header, never in a URL (URLs end up in logs, history and Referer headers). */
(function () {
  "use strict";
  var token = sessionStorage.getItem("shopassist-agent-token");
  var queuePage = 50;
  var poller = null;
  var current = null;     // session id on screen
  var suggestion = null;  // copilot suggestion on screen
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function call(method, path, body) {
    return fetch(path, {
      method: method,
      headers: Object.assign({ Authorization: "Bearer " + token }, body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (response) {
      if (response.status === 401) { signIn(); throw new Error("the agent token was refused"); }
      if (response.status === 204) return null;
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.detail || response.statusText);
        return data;
      });
    });
  }

  function status(text) { $("status").textContent = text; }

  function signIn() {
    sessionStorage.removeItem("shopassist-agent-token");
    $("console").hidden = true;
    $("login").hidden = false;
    $("token").focus();
  }

  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    token = $("token").value.trim();
    open();
  });

  function open() {
    sessionStorage.setItem("shopassist-agent-token", token);
    $("token").value = "";
    $("login").hidden = true;
    $("console").hidden = false;
    refreshQueue();
    clearInterval(poller);
    poller = setInterval(refreshQueue, 3000);
  }

  // The longest-waiting conversations first, one page of them; the count says how many wait in all.
  function refreshQueue() {
    return call("GET", "/api/agent/queue?limit=" + queuePage).then(function (page) {
      var entries = page.entries;
      $("queue-empty").hidden = entries.length > 0;
      $("queue-count").textContent = page.total > entries.length
        ? "Showing " + entries.length + " of " + page.total + " waiting." : "";
      $("queue").replaceChildren.apply($("queue"), entries.map(function (entry) {
        return el("li", {}, [el("button", {
          type: "button", "data-session": entry.session_id, "aria-current": String(entry.session_id === current),
          onclick: function () { show(entry.session_id); },
        }, [
          el("strong", { text: entry.channel + " · " + new Date(entry.waiting_since * 1000).toLocaleTimeString() }),
          el("span", { class: "who", text: entry.last_customer_message }),
        ])]);
      }));
      if (current) reloadTranscript();
    }).catch(function (error) { status(error.message); });
  }

  function renderTranscript(messages) {
    $("transcript").replaceChildren.apply($("transcript"), messages.map(function (message) {
      return el("div", { class: "msg " + message.role }, [
        el("span", { class: "who", text: { customer: "Customer", assistant: "Assistant", agent: "You (agent)" }[message.role] }),
        el("span", { text: message.text || "(cards only)" }),
      ]);
    }));
  }

  // The whole transcript, a page at a time (the first page may come with the copilot's suggestion).
  function loadSession(sessionId, suggest, collected) {
    var path = "/api/agent/sessions/" + encodeURIComponent(sessionId) + "?suggest=" + suggest +
      "&after=" + collected.length;
    return call("GET", path).then(function (data) {
      data.messages = collected.concat(data.messages);
      if (data.messages.length >= data.total || data.messages.length === collected.length) return data;
      return loadSession(sessionId, false, data.messages).then(function (rest) {
        rest.suggestion = data.suggestion;
        return rest;
      });
    });
  }

  // The periodic refresh only needs new messages; the suggestion is computed when a conversation is opened.
  function reloadTranscript() {
    return loadSession(current, false, []).then(function (data) {
      renderTranscript(data.messages);
    });
  }

  function show(sessionId) {
    current = sessionId;
    status("Loading " + sessionId + "…");
    return loadSession(sessionId, true, []).then(function (data) {
      renderTranscript(data.messages);
      renderSuggestion(data.suggestion);
      status("");
      refreshQueue();
    }).catch(function (error) { status(error.message); });
  }

  function renderSuggestion(data) {
    suggestion = data;
    var box = $("copilot");
    if (!data) { box.replaceChildren(el("p", { text: "The customer has not written yet." })); return; }
    var reply = el("textarea", { id: "reply", "aria-label": "Reply to send (editable)" });
    reply.value = data.reply;
    function insert(text) { reply.value = (reply.value ? reply.value + "\n" : "") + text; reply.focus(); }
    var parts = [];
    if (data.escalation_hint) parts.push(el("p", { class: "hint", role: "note", text: data.escalation_hint }));
    parts.push(el("h3", { text: "Suggested reply" }), reply);
    parts.push(el("div", { class: "row" }, current ? [
      el("button", { type: "button", class: "primary", id: "send", text: "Send to customer", onclick: function () {
        call("POST", "/api/agent/sessions/" + encodeURIComponent(current) + "/messages",
          { text: reply.value, suggestion_id: data.suggestion_id }).then(function () {
          status("Sent."); reloadTranscript();
        }).catch(function (error) { status(error.message); });
      } }),
      el("button", { type: "button", id: "reject", text: "Not helpful", onclick: function () {
        call("POST", "/api/agent/sessions/" + encodeURIComponent(current) + "/feedback",
          { suggestion_id: data.suggestion_id, accepted: false }).then(function () { status("Feedback noted."); });
      } }),
      el("button", { type: "button", id: "close", text: "Close handoff", onclick: function () {
        call("POST", "/api/agent/sessions/" + encodeURIComponent(current) + "/close").then(function () {
          status("Handed back to the assistant."); current = null; refreshQueue();
        });
      } }),
    ] : []));
    if (data.ledger.length) {
      parts.push(el("h3", { text: "Customer wants" }));
      parts.push(el("div", {}, data.ledger.map(function (chip) { return el("span", { class: "chip", text: chip.label }); })));
    }
    if (data.products.length) parts.push(el("h3", { text: "Products" }));
    data.products.forEach(function (product) {
      var price = product.price === null ? "price not listed" : product.currency + " " + product.price.toFixed(2);
      var line = product.title + " — " + price;
      parts.push(el("div", { class: "item product" }, [
        el("strong", { text: product.position + ". " + product.title }),
        el("div", { text: price + " · " + product.reason }),
        el("button", { type: "button", text: "Insert", "aria-label": "Insert " + product.title, onclick: function () { insert(line); } }),
      ]));
    });
    if (data.faq.length) parts.push(el("h3", { text: "FAQ" }));
    data.faq.forEach(function (snippet) {
      parts.push(el("div", { class: "item faq", "data-faq-id": snippet.id }, [
        el("strong", { text: snippet.question + " (" + snippet.id + ", " + Math.round(snippet.score * 100) + "%)" }),
        el("div", { text: snippet.answer }),
        el("button", { type: "button", text: "Insert", "aria-label": "Insert FAQ " + snippet.id, onclick: function () { insert(snippet.answer); } }),
      ]));
    });
    box.replaceChildren.apply(box, parts);
  }

  $("suggest-pasted").addEventListener("click", function () {
    var text = $("pasted").value.trim();
    if (!text) return;
    current = null;
    call("POST", "/api/agent/suggest", { text: text }).then(renderSuggestion).catch(function (error) { status(error.message); });
  });

  if (token) open(); else signIn();
})();
