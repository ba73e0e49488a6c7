import DbgWire

/// The web console served at /: one page, no external assets (HTML, CSS and JS inline),
/// that logs in, shows the system, runs a command or a shell line with live output and
/// input, cancels, follows the app log and reads the news. It speaks only the API it
/// sits on. Kept under 24 KiB (a test checks).
enum WebConsolePage {
    static var response: HTTPResponse {
        HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: Array(html.bytes), fields: [
            "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                + "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            "X-Frame-Options: DENY", "Referrer-Policy: no-referrer",
        ])
    }

    static let html: StaticString = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>dbg console</title>
<style>
:root{--bg:#f6f7f9;--fg:#1d2330;--mute:#667085;--line:#d8dde6;--acc:#2f6fde;--bad:#c0362c;--ok:#16794c;--card:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e4e7ec;--mute:#98a2b3;--line:#2c323c;--card:#1c2027}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;align-items:center;gap:.75rem;padding:.6rem 1rem;border-bottom:1px solid var(--line);background:var(--card)}
header b{font-size:1.05rem}header .sp{flex:1}main{max-width:64rem;margin:0 auto;padding:1rem;display:grid;gap:1rem}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem}
h2{font-size:.8rem;text-transform:uppercase;letter-spacing:.06em;color:var(--mute);margin:0 0 .6rem}
input,select,button{font:inherit;padding:.45rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
button{background:var(--acc);color:#fff;border-color:var(--acc);cursor:pointer}button.sec{background:transparent;color:var(--fg);border-color:var(--line)}
button:disabled{opacity:.5;cursor:default}.row{display:flex;gap:.5rem;flex-wrap:wrap}.row input{flex:1;min-width:8rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .9rem;margin:0}dt{color:var(--mute)}dd{margin:0;overflow-wrap:anywhere}
pre{margin:.6rem 0 0;background:#0f1115;color:#d7dde8;border-radius:6px;padding:.6rem;min-height:8rem;max-height:55vh;overflow:auto;font:13px/1.4 ui-monospace,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.st{font-size:.9rem;color:var(--mute);margin-top:.4rem}.st.ok{color:var(--ok)}.st.bad{color:var(--bad)}
ul{list-style:none;margin:0;padding:0}#news{max-height:16rem;overflow:auto}li{padding:.3rem 0;border-top:1px solid var(--line);font-size:.92rem}li:first-child{border:0}
li time{color:var(--mute);margin-right:.5rem;font-variant-numeric:tabular-nums}.hide{display:none}
@media (min-width:48rem){main{grid-template-columns:1fr 1fr}#run{grid-column:1/3}}
</style></head><body>
<header><b>dbg</b><span id="who" class="st"></span><span class="sp"></span><button id="out" class="sec hide">Log out</button></header>
<main>
<section id="login"><h2>Log in</h2><form id="lf" class="row">
<input id="u" name="user" autocomplete="username" placeholder="user" required>
<input id="p" name="password" type="password" autocomplete="current-password" placeholder="password">
<button>Log in</button></form><div id="lst" class="st"></div></section>
<section id="sys"><h2>System</h2><dl id="sysl"></dl></section>
<section id="newsb" class="hide"><h2>News</h2><ul id="news"></ul></section>
<section id="run" class="hide"><h2>Run</h2>
<form id="rf" class="row"><select id="kind"><option value="sh">shell line</option><option value="exec">program (argv)</option><option value="action">action (name, JSON input)</option><option value="app-logs">app log</option></select>
<input id="cmd" placeholder="uname -a" autocomplete="off"><button id="go">Run</button><button id="stop" type="button" class="sec" disabled>Cancel</button></form>
<pre id="o" aria-live="polite"></pre>
<form id="inf" class="row"><input id="line" placeholder="input line (Enter sends)" autocomplete="off" disabled><button id="eof" type="button" class="sec" disabled>End input</button></form>
<div id="rst" class="st"></div></section>
</main>
<script>
"use strict";
const $=id=>document.getElementById(id);
let ws=null;
const enc=new TextEncoder(),dec=new TextDecoder();
function status(el,text,cls){el.textContent=text;el.className="st"+(cls?" "+cls:"")}
async function api(method,path,body){
 const r=await fetch(path,{method,credentials:"same-origin",headers:body?{"Content-Type":"application/json"}:{},body:body?JSON.stringify(body):undefined});
 let j=null;try{j=await r.json()}catch(e){}
 return{ok:r.ok,status:r.status,json:j};
}
function row(dl,k,v){const t=document.createElement("dt");t.textContent=k;const d=document.createElement("dd");d.textContent=v;dl.append(t,d)}
function kib(n){return n==null?"?":n>=1048576?(n/1048576).toFixed(1)+" GiB":n>=1024?(n/1024).toFixed(0)+" MiB":n+" KiB"}
function dur(s){s=Math.floor(s);const d=Math.floor(s/86400),h=Math.floor(s%86400/3600),m=Math.floor(s%3600/60);return(d?d+"d ":"")+h+"h "+m+"m"}
async function loadSystem(){
 const r=await api("GET","/api/v1/systems");const dl=$("sysl");dl.textContent="";
 if(!r.ok||!r.json){row(dl,"error",String(r.status));return}
 const s=r.json[0];row(dl,"name",s.name);row(dl,"agent",s.version+" ("+s.architecture+")");
 if(s.kernel){row(dl,"kernel",s.kernel);row(dl,"uptime",dur(s.uptime));row(dl,"load",s.load.map(n=>n==null?"?":n.toFixed(2)).join(" "));
  row(dl,"memory",kib(s.memory.availableKiB)+" free of "+kib(s.memory.totalKiB));
  for(const d of s.disks)if(d.totalBytes!=null)row(dl,"disk "+d.path,kib(Math.round(d.availableBytes/1024))+" free of "+kib(Math.round(d.totalBytes/1024)));
  if(s.distro)row(dl,"distro",s.distro.installed?"installed":"not installed");
  if(s.app)row(dl,"app",s.app.state||"?");}
}
async function loadNews(){
 const r=await api("GET","/api/v1/news");const ul=$("news");ul.textContent="";
 if(!r.ok)return;
 for(const n of r.json){const li=document.createElement("li");const t=document.createElement("time");
  t.textContent=new Date(n.time*1000).toLocaleString();li.append(t,document.createTextNode(n.text));ul.append(li)}
}
function show(user){
 const on=!!user;$("login").classList.toggle("hide",on);$("run").classList.toggle("hide",!on);$("newsb").classList.toggle("hide",!on);
 $("out").classList.toggle("hide",!on);$("who").textContent=on?user.user+" (uid "+user.uid+")":"";
 loadSystem();if(on){loadNews();$("cmd").focus()}
}
async function check(){const r=await api("GET","/api/v1/auth");show(r.ok?r.json:null)}
$("lf").onsubmit=async e=>{e.preventDefault();status($("lst"),"checking…");
 const r=await api("POST","/api/v1/auth",{user:$("u").value,password:$("p").value});$("p").value="";
 if(r.ok){status($("lst"),"");show(r.json)}else status($("lst"),(r.json&&r.json.error)||"HTTP "+r.status,"bad")};
$("out").onclick=async()=>{if(ws)ws.close();await api("DELETE","/api/v1/auth");show(null)};
function running(on){$("go").disabled=on;$("stop").disabled=!on;$("line").disabled=!on;$("eof").disabled=!on;if(on)$("line").focus()}
function out(text){const o=$("o");const end=o.scrollTop+o.clientHeight>=o.scrollHeight-4;o.append(text+"\n");
 if(o.textContent.length>2000000)o.textContent=o.textContent.slice(-1000000);if(end)o.scrollTop=o.scrollHeight}
function send(obj){ws.send(enc.encode(JSON.stringify(obj)))}
$("rf").onsubmit=e=>{e.preventDefault();if(ws)return;
 const kind=$("kind").value,cmd=$("cmd").value.trim();
 let params;if(kind==="sh")params=[cmd];else if(kind==="exec")params=cmd.split(/\s+/).filter(Boolean);
 else if(kind==="action"){const m=cmd.match(/^(\S+)\s*(.*)$/);params=m?(m[2]?[m[1],m[2]]:[m[1]]):[]}else params=[];
 if(kind!=="app-logs"&&!params.length)return;
 $("o").textContent="";status($("rst"),"running…");
 ws=new WebSocket((location.protocol==="https:"?"wss://":"ws://")+location.host+"/api/v1/ws/");ws.binaryType="arraybuffer";
 let result=null;
 ws.onopen=()=>{send({call:kind,params});running(true)};
 ws.onmessage=m=>{if(typeof m.data==="string")out(m.data);else result=JSON.parse(dec.decode(m.data))};
 ws.onclose=ev=>{ws=null;running(false);
  if(result&&result.success)status($("rst"),"done","ok");
  else status($("rst"),result?result.message:"connection closed ("+ev.code+")","bad");loadNews()};
};
$("stop").onclick=()=>{if(ws)send({signal:"cancel"})};
$("eof").onclick=()=>{if(ws)send({signal:"eof"})};
$("inf").onsubmit=e=>{e.preventDefault();if(!ws)return;ws.send($("line").value);out("> "+$("line").value);$("line").value=""};
check();
</script></body></html>
"""#
}
