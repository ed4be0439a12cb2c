// Resumable upload of a lecture's recording: begin (or resume) through the API, send the file
// in part_size slices with one PUT per part, retry after a dropped connection by asking the
// server which parts arrived, then complete. Progress is bytes sent / file size.
(function () {
  "use strict";
  const root = document.getElementById("upload");
  if (!root) return;
  const lectureId = root.dataset.lectureId;
  const api = "/api/v1/lectures/" + lectureId;
  const strings = JSON.parse(document.getElementById("lecture-i18n").textContent);
  const t = (text) => strings[text] || text;
  const $ = (id) => document.getElementById(id);
  const bar = $("upload-progress"), text = $("upload-text"), errorBox = $("upload-error");

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // A request that rejects with {status, detail}; status 0 means the network failed.
  function send(method, url, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("x-csrftoken", csrfToken());
      if (body !== undefined && !(body instanceof Blob)) {
        xhr.setRequestHeader("content-type", "application/json");
        body = JSON.stringify(body);
      }
      if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (ignored) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject({ status: xhr.status, detail: (data && data.detail) || xhr.statusText });
      };
      xhr.onerror = xhr.ontimeout = () => reject({ status: 0, detail: "network" });
      xhr.send(body);
    });
  }

  function formatMB(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

  function show(sent, total) {
    bar.max = total; bar.value = sent;
    text.textContent = t("Uploaded") + " " + formatMB(sent) + " / " + formatMB(total) +
      " (" + Math.floor((100 * sent) / total) + " %)";
  }

  function expectedSize(state, n) {
    return n < state.part_count ? state.part_size : state.size - state.part_size * (state.part_count - 1);
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function sendMissingParts(file, state) {
    let received = {};
    for (const [n, size] of Object.entries(state.parts)) received[n] = size;
    for (let n = 1; n <= state.part_count; n++) {
      if (received[n] === expectedSize(state, n)) continue;
      const slice = file.slice((n - 1) * state.part_size, (n - 1) * state.part_size + expectedSize(state, n));
      const before = Object.values(received).reduce((a, b) => a + b, 0);
      await send("PUT", api + "/upload/" + encodeURIComponent(state.upload_id) + "/parts/" + n, slice,
        (loaded) => show(before + loaded, state.size));
      received[n] = slice.size;
      show(before + slice.size, state.size);
    }
  }

  async function upload(file) {
    errorBox.hidden = true;
    text.textContent = t("Starting the upload…");
    let delay = 2000;
    for (;;) {
      try {
        // Begin is also how we resume: the same name and size gets the parts already stored.
        const state = await send("POST", api + "/upload",
          { filename: file.name, size: file.size, content_type: file.type || "" });
        show(state.received, state.size);
        await sendMissingParts(file, state);
        text.textContent = t("Assembling the recording…");
        await send("POST", api + "/upload/" + encodeURIComponent(state.upload_id) + "/complete");
        text.textContent = t("Upload complete. Processing has started.");
        $("upload-resume").hidden = true;
        document.dispatchEvent(new CustomEvent("clinicast:pipeline-started"));
        return;
      } catch (problem) {
        if (problem.status !== 0 && problem.status < 500) {
          errorBox.textContent = t("Upload failed") + ": " + problem.detail;
          errorBox.hidden = false;
          return;
        }
        // A dropped link (or a server hiccup): wait, then ask again which parts arrived.
        text.textContent = t("The connection dropped; trying again in") + " " + delay / 1000 + " " + t("seconds");
        await sleep(delay);
        delay = Math.min(delay * 2, 30000);
      }
    }
  }

  $("upload-start").addEventListener("click", () => {
    const file = $("upload-file").files[0];
    if (!file) { errorBox.textContent = t("Choose a file first."); errorBox.hidden = false; return; }
    $("upload-start").disabled = true;
    upload(file).finally(() => { $("upload-start").disabled = false; });
  });

  // After a reload: say which upload is unfinished, so the same file can be chosen again.
  send("GET", api + "/upload").then((state) => {
    const notice = $("upload-resume");
    notice.textContent = t("An unfinished upload of") + " " + state.filename + " (" +
      formatMB(state.received) + " / " + formatMB(state.size) + "): " + t("choose the same file to resume it.");
    notice.hidden = false;
    show(state.received, state.size);
  }).catch(() => {});
})();
