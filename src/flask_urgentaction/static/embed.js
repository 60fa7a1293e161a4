// Runs in the iframe embed (/<slug>/embed). Loaded with defer, so the page is parsed.
(function () {
  if (window.parent === window) return;

  // Browsers ignore autofocus in a cross-origin frame. When the supporter is
  // working inside this frame (it has focus after their submit), move focus
  // where the page asks: the error summary, or the thank-you heading.
  var wanted = document.querySelector("[autofocus]");
  if (wanted && document.hasFocus() && document.activeElement !== wanted) wanted.focus();

  // Tell the page that frames us our height, so its iframe can fit the form.
  // Only the number is sent, and only to the framing page's origin.
  var ancestors = window.location.ancestorOrigins;
  var target = ancestors && ancestors.length ? ancestors[0] : "";
  if (!target && document.referrer) target = new URL(document.referrer).origin;
  if (!target || target === "null") return;
  var last = 0;
  function report() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    window.parent.postMessage({ urgentaction: "resize", height: height }, target);
  }
  new ResizeObserver(report).observe(document.documentElement);
  window.addEventListener("load", report);
})();
