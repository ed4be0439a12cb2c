// Pipeline progress: polls the pipeline API every 2 s and draws one bar per step, with its
// status, message and error; an admin gets a button that restarts the failed step.
(function () {
  "use strict";
  const root = document.getElementById("pipeline");
  if (!root) return;
  const api = "/api/v1/lectures/" + root.dataset.lectureId;
  const strings = JSON.parse(document.getElementById("lecture-i18n").textContent);
  const t = (text) => strings[text] || text;
  const $ = (id) => document.getElementById(id);
  const list = $("pipeline-steps"), restart = $("pipeline-restart");
  let timer = null;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function element(tag, className, textContent) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (textContent) node.textContent = textContent;
    return node;
  }

  function drawStep(step) {
    const item = element("li", "step step-" + step.status);
    item.dataset.kind = step.kind;
    item.append(element("span", "step-label", t(step.label)));
    const bar = element("progress");
    bar.max = 1;
    bar.value = step.status === "succeeded" ? 1 : step.progress;
    item.append(bar, element("span", "step-status", t(step.status)));
    if (step.message) item.append(element("span", "step-message", step.message));
    if (step.error) item.append(element("p", "error step-error", step.error));
    return item;
  }

  function draw(pipeline) {
    list.replaceChildren(...pipeline.steps.map(drawStep));
    $("pipeline-empty").hidden = pipeline.steps.length > 0;
    const failed = pipeline.steps.some((s) => s.status === "failed" || s.status === "cancelled");
    if (restart) restart.hidden = !failed;
    // A failed pipeline says, in the user's language, what happened and what to do; the
    // technical reason follows for whoever fixes it.
    const failure = pipeline.failure;
    const text = failure
      ? [failure.message, failure.action, failure.reason].filter(Boolean).join(" ")
      : pipeline.error || "";
    $("pipeline-error").hidden = !text;
    $("pipeline-error").textContent = text;
    $("lecture-status").textContent = t(pipeline.lecture_status);
    $("watch").hidden = !pipeline.watch_url;
    const busy = pipeline.steps.some((s) => ["pending", "queued", "running"].includes(s.status));
    return busy && !failed;
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const response = await fetch(api + "/pipeline", { credentials: "same-origin" });
      if (response.ok && !draw(await response.json())) return; // finished or failed: stop
    } catch (ignored) { /* a dropped link: try again at the next tick */ }
    timer = setTimeout(poll, 2000);
  }

  if (restart) {
    restart.addEventListener("click", async () => {
      restart.disabled = true;
      const response = await fetch(api + "/pipeline/restart", {
        method: "POST", credentials: "same-origin", headers: { "x-csrftoken": csrfToken() },
      });
      restart.disabled = false;
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        $("pipeline-error").textContent = problem.detail || response.statusText;
        $("pipeline-error").hidden = false;
      }
      poll();
    });
  }
  document.addEventListener("clinicast:pipeline-started", poll);
  poll();
})();
