/* shopassist chat widget. Embed with one tag:
 *   <script src="https://assistant.example.com/widget.js" defer></script>
 * The API base is the script's own origin (override with data-api="https://…").
 * Plain JS, no build step; every control is a real button or input so keyboards and screen readers work. */
(function () {
  "use strict";
  var script = document.currentScript;
  var api = (script && script.dataset.api) || (script ? new URL(script.src).origin : location.origin);
  var storageKey = "shopassist-session";
  var sessionId = null;
  var seen = 0;          // transcript messages already on screen
  var handoff = false;
  var poller = null;

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

  // Errors carry the HTTP status; every error body is {"detail": "…", "errors": […]}.
  function request(method, path, body) {
    return fetch(api + path, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = new Error(response.status === 429
            ? "you are sending messages too fast; try again in " + response.headers.get("Retry-After") + " s"
            : data.detail || response.statusText);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  var css = el("link", { rel: "stylesheet", href: api + "/widget.css" });
  document.head.appendChild(css);

  var bubble = el("button", {
    class: "sa-bubble", type: "button", "aria-label": "Open the shopping assistant",
    "aria-expanded": "false", "aria-controls": "sa-panel", "data-testid": "sa-bubble",
  });
  bubble.innerHTML = '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" fill="currentColor">' +
    '<path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  var log = el("div", { class: "sa-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  var ledger = el("ul", { class: "sa-ledger", "aria-label": "What you asked for" });
  var chips = el("div", { class: "sa-chips", role: "group", "aria-label": "Suggested replies" });
  var typing = el("div", { class: "sa-typing", role: "status", hidden: "" }, [
    el("span", { class: "sa-dots", "aria-hidden": "true", text: "•••" }),
    el("span", { class: "sa-sr", text: "The assistant is typing" }),
  ]);
  var input = el("input", {
    id: "sa-input", class: "sa-input", type: "text", maxlength: "4000", autocomplete: "off",
    placeholder: "Ask about products, shipping, returns…",
  });
  var form = el("form", { class: "sa-form", onsubmit: function (event) { event.preventDefault(); sendInput(); } }, [
    el("label", { for: "sa-input", class: "sa-sr", text: "Message" }),
    input,
    el("button", { type: "submit", class: "sa-send", text: "Send" }),
  ]);
  var person = el("button", { type: "button", class: "sa-person", text: "Talk to a person",
    onclick: function () { send("I'd like to talk to a person"); } });
  var close = el("button", { type: "button", class: "sa-close", "aria-label": "Close the assistant", text: "×",
    onclick: function () { toggle(false); } });
  var panel = el("section", {
    id: "sa-panel", class: "sa-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "sa-title", hidden: "",
  }, [
    el("header", { class: "sa-header" }, [el("h2", { id: "sa-title", text: "Shopping assistant" }), person, close]),
    ledger, log, typing, chips, form,
  ]);

  function toggle(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    if (open) {
      start().then(function () { input.focus(); });
    } else {
      bubble.focus();
    }
  }
  bubble.addEventListener("click", function () { toggle(panel.hidden); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") toggle(false);
    // Arrow keys move between quick replies and between the buttons of one card.
    var group = event.target.closest && event.target.closest(".sa-chips, .sa-actions");
    if (group && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      var buttons = Array.prototype.slice.call(group.querySelectorAll("button"));
      var next = buttons.indexOf(event.target) + (event.key === "ArrowRight" ? 1 : -1);
      if (buttons[next]) { buttons[next].focus(); event.preventDefault(); }
    }
  });

  // Only the server makes session ids: a saved one it no longer knows (404) is dropped for a new one.
  function start() {
    if (sessionId) return Promise.resolve();
    var saved = sessionStorage.getItem(storageKey);
    if (saved) {
      sessionId = saved;
      return sync(true).catch(function (error) {
        if (error.status !== 404) return;
        sessionId = null;
        sessionStorage.removeItem(storageKey);
        return start();
      });
    }
    return request("POST", "/api/sessions").then(function (data) {
      sessionId = data.session_id;
      sessionStorage.setItem(storageKey, sessionId);
      say("assistant", "Hi! What are you shopping for today?");
    });
  }

  function say(role, text) {
    var node = el("div", { class: "sa-msg sa-" + role, "data-role": role }, [
      el("span", { class: "sa-sr", text: { customer: "You: ", assistant: "Assistant: ", agent: "Support: " }[role] }),
      el("span", { class: "sa-text", text: text }),
    ]);
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }

  function card(product) {
    function act(action, label, text) {
      return el("button", { type: "button", class: "sa-act sa-" + action, "aria-label": label + ": " + product.title,
        "data-action": action, text: text, onclick: function (event) {
          var button = event.currentTarget;
          if (!product.impression_id) return;
          request("POST", "/api/sessions/" + sessionId + "/actions",
            { impression_id: product.impression_id, action: action }).then(function () {
            button.setAttribute("aria-pressed", "true");
            if (action === "add_to_cart") button.textContent = "Added ✓";
          });
        } });
    }
    var rating = product.rating === null ? "no rating" : product.rating.toFixed(1) + "★";
    return el("article", { class: "sa-card", "data-product-id": product.id, "aria-label": product.title }, [
      el("div", { class: "sa-card-top" }, [
        el("span", { class: "sa-pos", text: String(product.position) }),
        el("h3", { class: "sa-title", text: product.title }),
      ]),
      el("p", { class: "sa-meta" }, [
        el("strong", { class: "sa-price", text: money(product.price, product.currency) }),
        el("span", { class: "sa-rating", text: " · " + rating }),
      ]),
      el("p", { class: "sa-reason", text: product.reason }),
      el("div", { class: "sa-actions", role: "group", "aria-label": "Actions" }, [
        act("click", "View", "View"), act("add_to_cart", "Add to cart", "Add to cart"),
        act("thumbs_up", "Good suggestion", "👍"), act("thumbs_down", "Bad suggestion", "👎"),
      ]),
    ]);
  }

  // The same rendering as the reply text (assistant.answers.money): ₹1,299.00, $, €, £, else "1,299.00 XYZ".
  var symbols = { USD: "$", EUR: "€", GBP: "£", INR: "₹" };
  function money(amount, currency) {
    if (amount === null || amount === undefined) return "price not listed";
    var figure = amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return symbols[currency] ? symbols[currency] + figure : figure + " " + currency;
  }

  function showTurn(turn) {
    if (turn.text) {
      var node = say("assistant", turn.lead);
      if (turn.products.length) {
        var cards = el("div", { class: "sa-cards" }, turn.products.map(card));
        node.appendChild(cards);
      }
    }
    chips.replaceChildren.apply(chips, turn.suggestions.map(function (text) {
      return el("button", { type: "button", class: "sa-chip", text: text, onclick: function () { send(text); } });
    }));
    ledger.replaceChildren.apply(ledger, turn.ledger.map(function (chip) {
      return el("li", { class: "sa-constraint", "data-slot": chip.slot }, [
        el("span", { text: chip.label }),
        el("button", { type: "button", class: "sa-remove", "aria-label": "Remove " + chip.label, text: "×",
          onclick: function () { removeConstraint(chip); } }),
      ]);
    }));
    setHandoff(turn.handoff);
    log.scrollTop = log.scrollHeight;
  }

  function setHandoff(on) {
    if (on && !handoff) {
      panel.classList.add("sa-with-person");
      person.disabled = true;
      poller = setInterval(function () { sync(false); }, 2000);
    } else if (!on && handoff) {
      panel.classList.remove("sa-with-person");
      person.disabled = false;
      clearInterval(poller);
    }
    handoff = on;
  }

  // Messages the customer cannot know of yet (a person's replies), or the whole transcript after a reload,
  // page by page. A reload's failure goes to the caller (start); a poll's is retried by the next poll.
  function sync(replay) {
    return request("GET", "/api/sessions/" + sessionId + "/messages?after=" + seen).then(function (data) {
      data.messages.forEach(function (message) {
        if (message.role === "agent") say("agent", message.text);
        else if (replay && message.role === "customer") say("customer", message.text);
        else if (replay && message.turn) showTurn(message.turn);
      });
      seen += data.messages.length;
      setHandoff(data.handoff);
      if (data.messages.length && seen < data.total) return sync(replay);
    }).catch(function (error) { if (replay) throw error; });
  }

  function busy(on) {
    typing.hidden = !on;
    input.disabled = on;
  }

  function deliver(promise) {
    busy(true);
    return promise.then(function (turn) {
      seen += turn.held ? 1 : 2;
      showTurn(turn);
    }).catch(function (error) {
      say("assistant", "Sorry, something went wrong: " + error.message);
    }).finally(function () {
      busy(false);
      input.focus();
    });
  }

  function send(text) {
    text = text.trim();
    if (!text) return Promise.resolve();
    say("customer", text);
    chips.replaceChildren();
    return start().then(function () {
      return deliver(request("POST", "/api/sessions/" + sessionId + "/messages", { text: text }));
    }, function (error) {  // no session could be started (e.g. 429: too many new conversations)
      say("assistant", "Sorry, something went wrong: " + error.message);
    });
  }

  function sendInput() {
    var text = input.value;
    input.value = "";
    send(text);
  }

  function removeConstraint(chip) {
    var path = "/api/sessions/" + sessionId + "/constraints/" + encodeURIComponent(chip.slot) +
      "?value=" + encodeURIComponent(chip.value);
    deliver(request("DELETE", path));
  }

  document.body.appendChild(bubble);
  document.body.appendChild(panel);
  window.shopassist = { open: function () { toggle(true); }, send: send };
})();
