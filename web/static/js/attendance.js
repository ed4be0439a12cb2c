// Attendance pages: the charts of the period page (Chart.js, from web/static/vendor) and the
// "watching now" panel of a lecture's page, which refreshes itself — every 15 s while the
// lecture is live, every 60 s otherwise, and not while the tab is hidden.
(function () {
  "use strict";
  const i18nNode = document.getElementById("attendance-i18n");
  const strings = i18nNode ? JSON.parse(i18nNode.textContent) : {};
  const t = (text) => strings[text] || text;
  const $ = (id) => document.getElementById(id);

  function shortTitle(text, length) {
    return text.length > length ? text.slice(0, length - 1) + "…" : text;
  }

  // --- charts ------------------------------------------------------------------------------

  function drawCharts(data) {
    if (typeof window.Chart !== "function") return;
    const teal = "#0b5d7a", amber = "#c77700";
    const percentAxis = { min: 0, max: 100, ticks: { callback: (value) => value + " %" } };
    const overTime = $("chart-over-time");
    if (overTime && data.over_time.length) {
      new window.Chart(overTime, {
        type: "bar",
        data: {
          labels: data.over_time.map((l) => l.day.slice(5) + " " + shortTitle(l.title, 10)),
          datasets: [{
            label: t("Share attended (%)"),
            data: data.over_time.map((l) => l.share),
            backgroundColor: data.over_time.map((l) => (l.mandatory ? teal : amber)),
          }],
        },
        options: {
          maintainAspectRatio: false,
          scales: { y: percentAxis },
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { label: (item) => {
              const lecture = data.over_time[item.dataIndex];
              const kind = lecture.mandatory ? " · " + t("Mandatory") : "";
              return lecture.attended + "/" + lecture.audience + " " + t("attended") + kind;
            } } },
          },
        },
      });
    }
    const byTownship = $("chart-by-township");
    if (byTownship && data.by_township.length) {
      new window.Chart(byTownship, {
        type: "bar",
        data: {
          labels: data.by_township.map((g) => shortTitle(g.name, 12)),
          datasets: [{
            label: t("Share attended (%)"),
            data: data.by_township.map((g) => g.share),
            backgroundColor: teal,
          }],
        },
        options: {
          indexAxis: "y",
          maintainAspectRatio: false,
          scales: { x: percentAxis },
          plugins: { legend: { display: false } },
        },
      });
    }
  }

  const chartData = $("attendance-chart-data");
  if (chartData) drawCharts(JSON.parse(chartData.textContent));

  // --- watching now ------------------------------------------------------------------------

  const panel = $("watching-now");
  if (!panel) return;
  const live = panel.dataset.live === "yes";
  const every = live ? 15000 : 60000;
  let timer = null;

  function renditionLabel(name) {
    if (name === "audio") return t("audio only");
    return name && name !== "?" ? name + "p" : "";
  }

  function draw(now) {
    const list = $("now-clinics");
    if (!now.clinics.length) {
      $("now-summary").textContent = t("Nobody is watching at the moment.");
    } else {
      $("now-summary").textContent = now.head_count + " " + t("people") + " " + t("watching in") +
        " " + now.clinics.length + " " + t("clinics");
    }
    list.replaceChildren(...now.clinics.map((clinic) => {
      const item = document.createElement("li");
      item.dataset.clinicId = clinic.clinic_id;
      const renditions = clinic.renditions.map(renditionLabel).filter(Boolean).join(", ");
      item.textContent = clinic.name + " · " + clinic.head_count + " " + t("people") +
        (renditions ? " · " + renditions : "");
      return item;
    }));
    const clock = { timeZone: panel.dataset.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit" };
    let time;
    try {
      time = new Date(now.as_of).toLocaleTimeString(document.documentElement.lang, clock);
    } catch (error) { // an unknown zone name
      time = new Date(now.as_of).toLocaleTimeString();
    }
    $("now-updated").textContent = t("Updated") + " " + time;
  }

  async function refresh() {
    clearTimeout(timer);
    if (document.visibilityState === "hidden") return; // resumes on visibilitychange
    try {
      const response = await fetch(panel.dataset.url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      draw(await response.json());
    } catch (error) {
      $("now-updated").textContent = t("Could not refresh; trying again.");
    }
    timer = setTimeout(refresh, every);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
  window.clinicastWatchingNow = { refresh };
  refresh();
})();
