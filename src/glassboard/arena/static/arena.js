// glassboard arena page: plain JavaScript, no build step. Live chunks are shown as text (textContent);
// the finished answer arrives as HTML that the server already sanitized (markdown-it + nh3).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("ask"), promptBox = $("prompt"), sendBtn = $("send"), newBtn = $("new");
  const battleBox = $("battle"), statusLine = $("status"), voteBox = $("vote"), revealBox = $("reveal");
  const errorLine = $("error"), count = $("count");
  const maxPrompt = parseInt(promptBox.dataset.max, 10);
  const state = { battleId: null, phase: "idle", source: null, panes: {}, lastEventId: "", retries: 0 };
  // phase: idle (no battle) | streaming | ready (may vote or continue) | failed | voted

  async function api(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) throw new Error(data.error || ("Request failed (HTTP " + response.status + ")."));
    return data;
  }

  function setPhase(phase, message) {
    state.phase = phase;
    battleBox.classList.toggle("failed", phase === "failed");
    voteBox.hidden = phase !== "ready";
    voteBox.querySelectorAll("button").forEach((b) => { b.disabled = phase !== "ready"; });
    const busy = phase === "streaming";
    sendBtn.disabled = busy;
    newBtn.hidden = phase === "idle" || busy;
    sendBtn.textContent = phase === "ready" ? "Continue" : "Send";
    promptBox.placeholder = phase === "ready" ? "Ask a follow-up to both models…"
      : "Type a prompt, e.g. “Explain recursion to a ten-year-old.”";
    statusLine.textContent = message || {
      streaming: "Both models are answering…",
      ready: "Both answers are complete. Vote, or continue the conversation.",
      failed: "This battle failed: a model returned an error. No vote is possible; start a new battle.",
      voted: "Thanks for voting! Start a new battle to keep going.",
      idle: "",
    }[phase];
  }

  function showError(message) { errorLine.textContent = message || ""; }

  function addTurn(turn, prompt) {
    ["a", "b"].forEach((side) => {
      const list = document.querySelector("#side-" + side + " .turns");
      let block = list.querySelector('[data-turn="' + turn + '"]');
      if (!block) {
        block = document.createElement("div");
        block.className = "turn";
        block.dataset.turn = String(turn);
        const q = document.createElement("div");
        q.className = "prompt";
        block.appendChild(q);
        const answer = document.createElement("div");
        answer.className = "answer streaming";
        block.appendChild(answer);
        list.appendChild(block);
      }
      if (prompt !== undefined) block.querySelector(".prompt").textContent = prompt;
      const answer = block.querySelector(".answer");
      answer.textContent = "";
      answer.className = "answer streaming";
      state.panes[side] = answer;
    });
  }

  function follow(turn, prompt) {
    if (state.source) state.source.close();
    addTurn(turn, prompt);
    setPhase("streaming");
    state.lastEventId = "";
    state.retries = 0;
    listen();
  }

  // Every live event has an id (TURN-N). After a dropped connection EventSource reconnects by itself and sends
  // Last-Event-ID, so the server continues after the last event we have (on this or another replica). When the
  // browser gives up (e.g. the replica answered 502/503 while a load balancer moved it), we reconnect ourselves,
  // passing the id in the query string (EventSource cannot set headers).
  function listen() {
    let url = "/api/battles/" + encodeURIComponent(state.battleId) + "/stream";
    if (state.lastEventId) url += "?last_event_id=" + encodeURIComponent(state.lastEventId);
    const source = new EventSource(url);
    state.source = source;
    const track = (e) => { if (e.data === undefined) return; if (e.lastEventId) state.lastEventId = e.lastEventId; state.retries = 0; };
    ["start", "chunk", "done", "error", "end"].forEach((name) => source.addEventListener(name, track));
    source.addEventListener("error", (e) => {
      if (e.data || source.readyState !== EventSource.CLOSED || state.source !== source) return;
      state.source = null;
      if (state.retries >= 5) {
        setPhase("failed", "The connection to the arena was lost. Start a new battle.");
        return;
      }
      state.retries += 1;
      setTimeout(() => { if (state.phase === "streaming" && !state.source) listen(); }, 500 * state.retries);
    });
    source.addEventListener("start", () => {  // a whole turn follows (new, or rebuilt from the store)
      ["a", "b"].forEach((side) => { state.panes[side].textContent = ""; state.panes[side].className = "answer streaming"; });
    });
    source.addEventListener("chunk", (e) => {
      const d = JSON.parse(e.data);
      state.panes[d.side].textContent += d.text;
    });
    source.addEventListener("done", (e) => {
      const d = JSON.parse(e.data);
      const pane = state.panes[d.side];
      pane.innerHTML = d.html;  // sanitized on the server
      pane.className = "answer markdown";
    });
    source.addEventListener("error", (e) => {
      if (!e.data) return;  // a transport error: EventSource reconnects by itself
      const d = JSON.parse(e.data);
      const pane = state.panes[d.side];
      const note = document.createElement("p");
      note.className = "failure";
      note.textContent = d.message;
      pane.appendChild(note);
      pane.className = "answer failed";
    });
    source.addEventListener("end", (e) => {
      source.close();
      state.source = null;
      const d = JSON.parse(e.data);
      setPhase(d.status === "ready" ? "ready" : d.status === "voted" ? "voted" : "failed", d.message);
    });
  }

  function reset() {
    if (state.source) state.source.close();
    state.battleId = null;
    state.source = null;
    document.querySelectorAll(".side .turns").forEach((el) => { el.textContent = ""; });
    ["a", "b"].forEach((side) => { $("side-" + side).querySelector("h2").textContent = "Model " + side.toUpperCase(); });
    revealBox.hidden = true;
    revealBox.textContent = "";
    battleBox.hidden = true;
    setPhase("idle");
    showError("");
    promptBox.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const prompt = promptBox.value;
    if (!prompt.trim()) { showError("Type a prompt first."); return; }
    if (prompt.length > maxPrompt) { showError("The prompt is too long."); return; }
    sendBtn.disabled = true;
    try {
      let turn = 0;
      if (state.phase === "ready" && state.battleId) {
        turn = (await api("/api/battles/" + encodeURIComponent(state.battleId) + "/turns", { prompt })).turn;
      } else {
        if (state.battleId) reset();
        state.battleId = (await api("/api/battles", { prompt })).battle_id;
      }
      battleBox.hidden = false;
      promptBox.value = "";
      updateCount();
      follow(turn, prompt);
    } catch (err) {
      showError(err.message);
      sendBtn.disabled = state.phase === "streaming";
    }
  });

  voteBox.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-winner]");
    if (!button || state.phase !== "ready") return;
    voteBox.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    showError("");
    try {
      const result = await api("/api/battles/" + encodeURIComponent(state.battleId) + "/vote",
        { winner: button.dataset.winner });
      $("side-a").querySelector("h2").textContent = "Model A: " + result.model_a;
      $("side-b").querySelector("h2").textContent = "Model B: " + result.model_b;
      revealBox.textContent = "";
      const line = document.createElement("p");
      line.className = "names";
      const a = document.createElement("strong"); a.textContent = result.model_a;
      const b = document.createElement("strong"); b.textContent = result.model_b;
      line.append("Model A was ", a, " and model B was ", b, ".");
      revealBox.appendChild(line);
      if (result.flags && result.flags.length) {
        const flag = document.createElement("p");
        flag.className = "flagged";
        flag.textContent = "An answer named a model or provider, so this vote is kept but not counted in the ratings.";
        revealBox.appendChild(flag);
      }
      revealBox.hidden = false;
      setPhase("voted");
    } catch (err) {
      showError(err.message);
      voteBox.querySelectorAll("button").forEach((b) => { b.disabled = state.phase !== "ready"; });
    }
  });

  newBtn.addEventListener("click", reset);

  function updateCount() {
    count.textContent = promptBox.value.length.toLocaleString() + " / " + maxPrompt.toLocaleString();
    count.classList.toggle("over", promptBox.value.length > maxPrompt);
  }
  promptBox.addEventListener("input", updateCount);
  promptBox.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  setPhase("idle");
})();
