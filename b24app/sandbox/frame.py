"""The portal page that opens an app in a frame, and the BX24 stand-in script the app page includes.

The page auto-submits a POST form into a named iframe (frame data of platform.md §2.3). Inside the frame the
app includes `bx24.js`, which talks to this parent page with `postMessage`, like the real BX24 library:
`BX24.init(cb)` asks for the frame data, `BX24.installFinish()` makes the parent call the portal's
`/bx24/install-finish` (same origin) and reload, which now opens the handler path instead of the installer.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class FrameLaunch:
    """One render of an app page: the POST that goes into the frame."""

    app_sid: str
    target: str  # the app's install or handler URL
    query: dict[str, str]  # DOMAIN, PROTOCOL, LANG, APP_SID
    fields: dict[str, str]  # AUTH_ID, REFRESH_ID, ... (form body)
    client_endpoint: str

    @property
    def action(self) -> str:
        return self.target + ("&" if "?" in self.target else "?") + urlencode(self.query)


def _script_json(value: object) -> str:
    """JSON safe to embed in a <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_frame_page(launch: FrameLaunch, title: str) -> bytes:
    frame_name = f"app_frame_{launch.app_sid}"
    inputs = "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in launch.fields.items()
    )
    init = {**launch.fields, **launch.query, "client_endpoint": launch.client_endpoint}
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body style="margin:0">
<iframe name="{frame_name}" id="app_frame" style="border:0;width:100%;height:100vh"></iframe>
<form id="app_form" method="POST" target="{frame_name}" action="{html.escape(launch.action)}">
{inputs}
</form>
<script>
(function () {{
  var sid = {_script_json(launch.app_sid)}, init = {_script_json(init)};
  var frame = document.getElementById("app_frame");
  window.addEventListener("message", function (e) {{
    if (e.source !== frame.contentWindow) return;
    var msg; try {{ msg = JSON.parse(e.data); }} catch (err) {{ return; }}
    if (msg.cmd === "getInitData") {{
      frame.contentWindow.postMessage(JSON.stringify({{cmd: "initData", data: init}}), "*");
    }} else if (msg.cmd === "installFinish") {{
      fetch("/bx24/install-finish", {{method: "POST", body: new URLSearchParams({{APP_SID: sid}})}})
        .then(function () {{ location.reload(); }});
    }}
  }});
  document.getElementById("app_form").submit();
}})();
</script>
</body></html>
"""
    return page.encode()


BX24_JS = """/* BX24 stand-in served by the b24app sandbox: the subset of the real library an app needs. */
(function () {
  var initData = null, waiting = [];
  function send(cmd) { window.parent.postMessage(JSON.stringify({cmd: cmd}), "*"); }
  window.addEventListener("message", function (e) {
    if (e.source !== window.parent) return;
    var msg; try { msg = JSON.parse(e.data); } catch (err) { return; }
    if (msg.cmd === "initData") { initData = msg.data; waiting.splice(0).forEach(function (cb) { cb(); }); }
  });
  function Result(answer) {
    this.answer = answer;
    this.data = function () { return answer.result; };
    this.error = function () { return answer.error ? (answer.error_description || answer.error) : null; };
    this.total = function () { return answer.total; };
    this.more = function () { return answer.next !== undefined; };
  }
  window.BX24 = {
    init: function (cb) { if (initData) { cb(); } else { waiting.push(cb); send("getInitData"); } },
    getAuth: function () {
      if (!initData) return false;
      return {access_token: initData.AUTH_ID, refresh_token: initData.REFRESH_ID,
              expires_in: Number(initData.AUTH_EXPIRES), domain: initData.DOMAIN,
              member_id: initData.member_id};
    },
    getDomain: function () { return initData && initData.DOMAIN; },
    getLang: function () { return initData && initData.LANG; },
    placement: {info: function () { return initData && {placement: initData.PLACEMENT, options: {}}; }},
    installFinish: function () { send("installFinish"); },
    callMethod: function (method, params, cb) {
      var body = new URLSearchParams();
      (function flat(prefix, value) {
        if (value !== null && typeof value === "object") {
          Object.keys(value).forEach(function (k) { flat(prefix ? prefix + "[" + k + "]" : k, value[k]); });
        } else { body.append(prefix, value === null || value === undefined ? "" : String(value)); }
      })("", params || {});
      body.append("auth", initData.AUTH_ID);
      fetch(initData.client_endpoint + method + ".json", {method: "POST", body: body})
        .then(function (r) { return r.json(); })
        .then(function (answer) { if (cb) cb(new Result(answer)); });
    }
  };
})();
"""
