// Appended to a copy of the Snakemake report by tests/workflow/test_report_html.py. It opens
// results through the report app's own view manager (what a click on a result does), waits for
// them to render, and writes what rendered into <pre id="fhbench-check"> for --dump-dom.
// The result shown last stays on screen for --screenshot; choose it with #show=<result path>.
(function () {
  const wanted = decodeURIComponent((location.hash.match(/show=([^&]+)/) || [])[1] || "");
  const paths = Object.keys(results);
  const order = paths.filter((p) => p !== wanted).concat(paths.filter((p) => p === wanted));
  const report = { categories: Object.keys(categories), results: {} };
  function probe(path) {
    const img = document.querySelector("#app img[src^='data:image/png']");
    const frame = document.querySelector("#app iframe");
    const entry = { mime: results[path].mime_type };
    if (img && entry.mime === "image/png") {
      entry.kind = "img";
      entry.width = img.naturalWidth;
      entry.height = img.naturalHeight;
    } else if (frame) {
      entry.kind = "iframe";
      try {
        const doc = frame.contentDocument;
        const table = doc && doc.querySelector("#results-table");
        entry.rows = table ? table.rows.length : -1;
        entry.cells = table ? Array.from(table.querySelectorAll("td")).map((td) => td.textContent) : [];
        entry.bold = table ? table.querySelectorAll("td.best b").length : 0;
      } catch (err) {
        entry.error = String(err);
      }
    }
    report.results[path] = entry;
  }
  function step(i) {
    // The menu as the app first rendered it (category entries under "Results").
    if (i === 0) report.menu = Array.from(document.querySelectorAll("#app nav li span")).map((s) => s.textContent);
    if (i > 0) probe(order[i - 1]);
    if (i === order.length) {
      const pre = document.createElement("pre");
      pre.id = "fhbench-check";
      pre.style.display = "none";
      pre.textContent = JSON.stringify(report);
      document.body.appendChild(pre);
      return;
    }
    const path = order[i];
    const category = Object.keys(categories).find((c) => Object.values(categories[c]).some((ps) => ps.includes(path)));
    app.showCategory(category);
    new ToggleViewManager(app).handleSelectedResult(path);
    setTimeout(() => step(i + 1), 400);
  }
  window.addEventListener("load", () => setTimeout(() => step(0), 300));
})();
