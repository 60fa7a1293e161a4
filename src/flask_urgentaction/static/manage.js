// Optional: the live count (live.json, every 10 s); copy buttons.
{
const $ = (s) => document.querySelector(s);
const put = (e, v) => { if (e && v != null) e.textContent = v; };
const live = $("[data-ua-live]");
if (live) setInterval(async () => {
  if (document.hidden) return;
  try {
    const d = await (await fetch(live.dataset.uaLive, { cache: "no-store" })).json();
    put(live, d.count_text);
    put($("[data-ua-last]"), d.last_action_text);
    put($("[data-ua-percent]"), d.percent_text);
    const p = $("[data-ua-progress]");
    if (p) p.value = Math.min(d.count, p.max);
  } catch (e) {} // next time
}, 1e4);
if (navigator.clipboard) for (const t of document.querySelectorAll("[data-ua-copy]")) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "ua-button";
  b.textContent = t.dataset.uaCopy;
  b.setAttribute("aria-describedby", t.id + "-label");
  b.onclick = () => navigator.clipboard.writeText(t.value).then(() => put(b, t.dataset.uaCopied));
  t.after(b);
}
}
