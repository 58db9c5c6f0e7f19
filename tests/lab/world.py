"""The lab world: two network namespaces, real Debian servers, a test PKI.

Everything is created under unique names (pw<pid>-...) and torn down by
World.close(), which is idempotent and safe to call from finally, atexit and
signal handlers. Every server is our own child (Popen) and is reaped.
See README.md for the address plan.
"""
import json
import os
import secrets
import shutil
import signal
import string
import subprocess
import tempfile
import time

import world_providers as WP

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"

# ---- address plan (README.md) ----
LINKS = {  # host-side interface -> (host address, inet address, routing table)
    "eth-a": ("198.18.1.2", "198.18.1.1", 101),
    "eth-b": ("198.18.2.2", "198.18.2.1", 102),
    "eth-c": ("198.18.3.2", "198.18.3.1", 103),
}
PROVIDER_HOSTS = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "gemini": "generativelanguage.googleapis.com",
    "discord": "discord.com",
}
GENUINE = {"openai": "198.18.100.1", "anthropic": "198.18.100.2",
           "gemini": "198.18.100.3", "discord": "198.18.100.4"}
GEO_OPENAI = "198.18.100.11"    # a second genuine OpenAI front (what geo-DNS hands out)
INTERCEPT_ADDR = "198.18.100.50"  # nginx with corporate-CA leaves, forwards to the providers
EXPIRED_ADDR = "198.18.100.60"    # expired leaf (test CA)
WRONGNAME_ADDR = "198.18.100.61"  # leaf for another name (test CA)
GARBAGE_ADDR = "198.18.100.62"    # TLS ok, then non-HTTP bytes
STALL_ADDR = "198.18.100.63"      # TLS ok, then no answer at all
TLSRESET_ADDR = "198.18.100.64"   # RST after the ClientHello (SNI-filtering DPI)
DROP_ADDR = "198.18.100.70"       # nft drop: connect times out
RESET_ADDR = "198.18.100.71"      # nft reject with tcp reset
CLOSED_ADDR = "198.18.100.72"     # nothing listens: the kernel resets

RESOLVERS = {  # name -> address, and what each one answers
    "honest": "198.18.53.1",
    "sinkhole": "198.18.53.2",
    "dead": "198.18.53.3",      # nothing listens (port unreachable)
    "dropped": "198.18.53.4",   # nft drop (timeout)
    "intercept": "198.18.53.5",
    "faults": "198.18.53.6",
    "faults2": "198.18.53.7",
    "geo": "198.18.53.8",       # honest, but another front for api.openai.com
}
PROXY_PLAIN = "198.18.31.1"   # squid forward proxy, adds Via / X-Forwarded-For
SOCKS = "198.18.31.2"         # microsocks
PROXY_STRIP = "198.18.31.3"   # squid ssl-bump (corporate CA), strips Authorization
PROXY_DENY = "198.18.31.4"    # squid ssl-bump, answers its own 403 for the providers
PROXY_AUTH = "198.18.31.5"    # squid that wants credentials: 407
PROXY_NOCONNECT = "198.18.31.6"  # squid that refuses CONNECT to the providers: its 403
PROXY_DROPPED = "198.18.31.8"  # nft drop
PROXY_DEAD = "198.18.31.9"    # nothing listens
ECHO_ADDR = "198.18.80.1"
ECHO_FRONT = ECHO_ADDR + ":8081"  # nginx in front of the echo server, adding a header
BACKEND = "127.0.0.1:8000"    # inside inet: the providers' answers behind nginx

BRIDGE_ADDRS = (list(GENUINE.values()) +
                [GEO_OPENAI, INTERCEPT_ADDR, EXPIRED_ADDR, WRONGNAME_ADDR, GARBAGE_ADDR,
                 STALL_ADDR, TLSRESET_ADDR, DROP_ADDR,
                 RESET_ADDR, CLOSED_ADDR] + list(RESOLVERS.values()) +
                [PROXY_PLAIN, SOCKS, PROXY_STRIP, PROXY_DENY, PROXY_AUTH, PROXY_NOCONNECT,
                 PROXY_DROPPED, PROXY_DEAD,
                 ECHO_ADDR])
BRIDGE_ADDRS += WP.addresses()  # the OpenAI-compatible providers (world_providers.py)

# 198.18.1.128/25 is egress A's upper half: no one uses it until the egress-change
# scenario moves the default route's source there (a new address and country).
REGION_BY_NET = [("198.18.2.0/24", "HK"), ("198.18.31.0/24", "NL"),
                 ("198.18.1.128/25", "SG")]  # default DE

CASES = ["valid", "invalid", "quota", "rate", "error", "perm", "spendcap"]


def _rand(n, alphabet=string.ascii_letters + string.digits):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def make_keys():
    """Made-up keys shaped like real ones, fresh per run; the value selects the case."""
    keys = {}
    for case in CASES:
        keys[("openai", case)] = "sk-proj-" + _rand(20) + "T3BlbkFJ" + _rand(20)
        keys[("anthropic", case)] = "sk-ant-api03-" + _rand(93, string.ascii_letters +
                                                             string.digits + "-_") + "AA"
        keys[("gemini", case)] = "AIza" + _rand(35, string.ascii_letters + string.digits + "-_")
        keys[("discord", case)] = (_rand(26) + "." + _rand(6) + "." +
                                   _rand(38, string.ascii_letters + string.digits + "-_"))
    keys.update(WP.make_keys(_rand, CASES))
    return keys


class LabError(Exception):
    pass


def run(cmd, check=True, timeout=30, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise LabError("%s -> %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-800:]))
    return p


class World:
    def __init__(self, bin_dir, verbose=False, keep=False):
        self.bin_dir = bin_dir
        self.verbose = verbose
        self.keep = keep
        tag = "pw%d" % os.getpid()
        self.host_ns = tag + "-host"
        self.inet_ns = tag + "-inet"
        self.dir = tempfile.mkdtemp(prefix=tag + "-lab-")
        os.chmod(self.dir, 0o755)
        self.procs = []  # (name, Popen)
        self.namespaces = []
        self.netns_dirs = []
        self.closed = False
        self.keys = make_keys()
        self.echo_url = None
        self.echo_kind = None
        self.t_start = time.monotonic()
        self.defer_waits = None

    # ---------- helpers ----------
    def log(self, msg):
        if self.verbose:
            print("  [lab %5.1fs] %s" % (time.monotonic() - self.t_start, msg), flush=True)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def ns(self, ns, *cmd, check=True, timeout=30):
        return run(["ip", "netns", "exec", ns] + list(cmd), check=check, timeout=timeout)

    def spawn(self, name, ns, cmd, listen=None, udp=False, deadline=8.0):
        """Start a server as our own child inside `ns`; wait (bounded) until it listens."""
        out = open(self.path(name + ".out"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        self.procs.append((name, p))
        if listen:
            if self.defer_waits is not None:
                self.defer_waits.append((name, p, ns, listen, udp, deadline))
            else:
                self.wait_listen(name, p, ns, listen, udp, deadline)
        return p

    def wait_listen(self, name, p, ns, listen, udp, deadline):
        host, port = listen.rsplit(":", 1)
        end = time.monotonic() + deadline
        flag = "-lnu" if udp else "-lnt"
        while time.monotonic() < end:
            if p.poll() is not None:
                raise LabError("%s exited with %s: %s" % (name, p.returncode,
                                                           self.tail(name + ".out")))
            out = self.ns(ns, "ss", "-H", flag, "src", host, "sport", "= :" + port,
                          check=False).stdout
            if out.strip():
                self.log("%s listening on %s" % (name, listen))
                return
            time.sleep(0.05)
        raise LabError("%s did not listen on %s within %.0fs: %s" %
                       (name, listen, deadline, self.tail(name + ".out")))

    def tail(self, fname, n=1500):
        try:
            with open(self.path(fname), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    # ---------- build ----------
    def build(self):
        t0 = time.monotonic()
        self.make_pki()
        self.log("PKI made")
        self.make_network()
        self.log("network made")
        self.start_servers()
        self.log("world up in %.1fs" % (time.monotonic() - t0))

    def ip_batch(self, ns, lines):
        cmd = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
        p = subprocess.run(cmd, input="\n".join(lines) + "\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        if p.returncode != 0:
            raise LabError("ip batch in %s failed: %s" % (ns or "root", p.stderr.strip()[-600:]))

    def make_network(self):
        h, i = self.host_ns, self.inet_ns
        for ns in (h, i):
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
        root, hl, il = [], ["link set lo up"], ["link set lo up"]
        for ifname, (haddr, iaddr, table) in LINKS.items():
            peer = "v" + ifname[-1]
            root.append("link add %s netns %s type veth peer name %s netns %s" %
                        (ifname, h, peer, i))
            hl += ["addr add %s/24 dev %s" % (haddr, ifname), "link set %s up" % ifname,
                   # Each egress its own table: by source address and by bound interface.
                   "route add default via %s dev %s src %s table %d" % (iaddr, ifname, haddr,
                                                                       table),
                   "rule add from %s table %d pref %d" % (haddr, table, 1000 + table),
                   "rule add oif %s table %d pref %d" % (ifname, table, 1100 + table)]
            il += ["addr add %s/24 dev %s" % (iaddr, peer), "link set %s up" % peer]
        hl.append("route add default via %s dev eth-a src %s" % (LINKS["eth-a"][1],
                                                                 LINKS["eth-a"][0]))
        # The servers' addresses live on an empty bridge (no dummy driver here).
        il.append("link add srv0 type bridge")
        il += ["addr add %s/32 dev srv0" % addr for addr in BRIDGE_ADDRS]
        il.append("link set srv0 up")
        self.ip_batch(None, root)
        self.ip_batch(h, hl)
        self.ip_batch(i, il)
        # Replies to egress B/C arrive on their own links: no strict reverse-path filter.
        sysctls = ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
        self.ns(h, "sysctl", "-qw", *(sysctls + ["net.ipv4.conf.%s.rp_filter=0" % n
                                                  for n in LINKS]))
        self.ns(i, "sysctl", "-qw", *sysctls)
        # /etc/netns/<ns>/resolv.conf: what "system" means inside each namespace.
        for ns in (h, i):
            d = os.path.join("/etc/netns", ns)
            os.makedirs(d, exist_ok=True)
            self.netns_dirs.append(d)
        self.set_system_resolver(RESOLVERS["honest"])
        with open(os.path.join("/etc/netns", i, "resolv.conf"), "w") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:2\n" % RESOLVERS["honest"])
        with open(os.path.join("/etc/netns", h, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n")
        with open(os.path.join("/etc/netns", i, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n")
        nft = """
table inet lab {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr 198.18.3.0/24 drop
    ip daddr %s tcp dport 443 drop
    ip daddr %s tcp dport 443 reject with tcp reset
    ip daddr %s drop
    ip daddr %s drop
  }
}
""" % (DROP_ADDR, RESET_ADDR, PROXY_DROPPED, RESOLVERS["dropped"])
        with open(self.path("lab.nft"), "w") as f:
            f.write(nft)
        self.ns(i, "nft", "-f", self.path("lab.nft"))

    def set_system_resolver(self, addr):
        with open(os.path.join("/etc/netns", self.host_ns, "resolv.conf"), "w") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:2\n" % addr)

    # ---------- PKI ----------
    def openssl(self, *args):
        return run(["openssl"] + list(args), timeout=60)

    def make_ca(self, name, cn):
        key, crt = self.path(name + ".key"), self.path(name + ".pem")
        self.openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                     "-days", "30", "-subj", "/O=%s/CN=%s" % (name, cn),
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return key, crt

    def make_leaf(self, name, ca, names, start=None, end=None):
        key, csr, crt = (self.path(name + ".key"), self.path(name + ".csr"),
                         self.path(name + ".pem"))
        self.openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=%s" % names[0])
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" %
                    ",".join("DNS:" + n for n in names))
        ca_key, ca_crt = ca
        if start is None:
            self.openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                         "-CAcreateserial", "-days", "20", "-extfile", ext, "-out", crt)
        else:  # fixed dates (an expired leaf) need `openssl ca`
            cadir = self.path("ca-" + name)
            os.makedirs(cadir, exist_ok=True)
            open(os.path.join(cadir, "index.txt"), "w").close()
            with open(os.path.join(cadir, "serial"), "w") as f:
                f.write("1000\n")
            cnf = os.path.join(cadir, "ca.cnf")
            with open(cnf, "w") as f:
                f.write("[ca]\ndefault_ca=lab\n[lab]\ndir=%s\ndatabase=$dir/index.txt\n"
                        "serial=$dir/serial\nnew_certs_dir=$dir\ndefault_md=sha256\n"
                        "policy=any\ncopy_extensions=none\nunique_subject=no\n"
                        "[any]\ncommonName=supplied\n" % cadir)
            self.openssl("ca", "-batch", "-config", cnf, "-in", csr, "-cert", ca_crt,
                         "-keyfile", ca_key, "-startdate", start, "-enddate", end,
                         "-extfile", ext, "-out", crt, "-notext")
        # Servers present the leaf alone: the root is what the client must already trust.
        return key, crt

    def make_pki(self):
        self.test_ca = self.make_ca("lab-public-root", "Lab Public Root CA")
        self.corp_ca = self.make_ca("corp-inspection", "Corp Inspection Root CA")
        all_names = list(PROVIDER_HOSTS.values())
        self.leaves = {}
        for prov, name in PROVIDER_HOSTS.items():
            self.leaves[prov] = self.make_leaf("leaf-" + prov, self.test_ca, [name])
        for prov, (name, _) in WP.HOSTS.items():
            self.leaves[prov] = self.make_leaf("leaf-" + prov, self.test_ca, [name])
        # The bumping squid presents this one leaf for every name it intercepts.
        self.leaves["corp"] = self.make_leaf("leaf-corp", self.corp_ca,
                                             all_names + WP.host_names())
        self.leaves["expired"] = self.make_leaf("leaf-expired", self.test_ca, all_names,
                                                start="20240101000000Z", end="20250101000000Z")
        self.leaves["wrongname"] = self.make_leaf("leaf-wrongname", self.test_ca,
                                                  ["wrong.lab.invalid"])
        self.leaves["garbage"] = self.make_leaf("leaf-garbage", self.test_ca, all_names)
        self.public_roots = self.test_ca[1]
        self.ca_bundle = self.path("ca-bundle.pem")
        with open(self.ca_bundle, "w") as out:
            for ca in (self.test_ca, self.corp_ca):
                with open(ca[1]) as f:
                    out.write(f.read())

    # ---------- servers ----------
    def start_servers(self):
        # Start them all, then wait (bounded) for each to listen: startup overlaps.
        self.defer_waits = []
        try:
            self.start_backend()
            self.start_dnsmasq()
            self.start_nginx()
            self.start_garbage()
            self.start_stall_and_reset()
            self.start_squid()
            self.start_socks()
            for args in self.defer_waits:
                self.wait_listen(*args)
        finally:
            self.defer_waits = None
        self.start_echo()

    def start_backend(self):
        self.backend_log = self.path("backend-requests.jsonl")
        self.backend_override = self.path("backend-override.json")
        self.spawn("backend", self.inet_ns,
                   [PY, os.path.join(HERE, "servers.py"), "backend", "--listen", BACKEND,
                    "--log", self.backend_log, "--override", self.backend_override],
                   listen=BACKEND)

    def force_case(self, overrides):
        """{client address: case} the providers answer from now on whatever the key or
        region says (trace keeps the truth); {} restores the normal answers."""
        tmp = self.backend_override + ".tmp"
        with open(tmp, "w") as f:
            json.dump(overrides, f)
        os.replace(tmp, self.backend_override)  # the backend never reads half a file

    def start_garbage(self):
        key, chain = self.leaves["garbage"]
        self.spawn("garbage-tls", self.inet_ns,
                   [PY, os.path.join(HERE, "servers.py"), "garbage", "--listen",
                    GARBAGE_ADDR + ":443", "--cert", chain, "--key", key],
                   listen=GARBAGE_ADDR + ":443")

    def start_stall_and_reset(self):
        key, crt = self.leaves["garbage"]
        self.spawn("stall-tls", self.inet_ns,
                   [PY, os.path.join(HERE, "servers.py"), "stall", "--listen",
                    STALL_ADDR + ":443", "--cert", crt, "--key", key],
                   listen=STALL_ADDR + ":443")
        self.spawn("tls-reset", self.inet_ns,
                   [PY, os.path.join(HERE, "servers.py"), "tlsreset", "--listen",
                    TLSRESET_ADDR + ":443"], listen=TLSRESET_ADDR + ":443")

    def dnsmasq_records(self):
        g = GENUINE
        H = PROVIDER_HOSTS
        return {
            "honest": dict({H[p]: g[p] for p in H}, **WP.dns_records()),
            "sinkhole": {H["openai"]: "0.0.0.0", H["anthropic"]: "127.0.0.1",
                         H["gemini"]: g["gemini"], H["discord"]: g["discord"]},
            "intercept": {H[p]: INTERCEPT_ADDR for p in H},
            "faults": {H["openai"]: EXPIRED_ADDR, H["anthropic"]: WRONGNAME_ADDR,
                       H["gemini"]: GARBAGE_ADDR, H["discord"]: DROP_ADDR},
            "geo": dict({H[p]: g[p] for p in H}, **{H["openai"]: GEO_OPENAI}),
            "faults2": {H["openai"]: RESET_ADDR, H["anthropic"]: CLOSED_ADDR,
                        H["gemini"]: STALL_ADDR, H["discord"]: TLSRESET_ADDR},
        }

    def start_dnsmasq(self):
        for name, records in self.dnsmasq_records().items():
            addr = RESOLVERS[name]
            cmd = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
                   "--conf-file=/dev/null", "--bind-interfaces", "--listen-address=" + addr,
                   "--port=53", "--local=/#/", "--pid-file=", "--cache-size=0",
                   "--log-facility=" + self.path("dnsmasq-%s.log" % name)]
            for host, ip in records.items():
                cmd.append("--host-record=%s,%s" % (host, ip))
            self.spawn("dnsmasq-" + name, self.inet_ns, cmd, listen=addr + ":53", udp=True)

    def nginx_conf(self):
        d = self.dir
        for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(self.path("nginx-tmp", sub), exist_ok=True)
        K = self.keys

        def keymap(var, header, prov, prefix=""):
            lines = ["  map $http_%s $%s {" % (header, var), '    default invalid;',
                     '    "" nokey;']
            for case in CASES:
                lines.append('    "%s%s" %s;' % (prefix, K[(prov, case)], case))
            lines.append("  }")
            return "\n".join(lines)

        geo = "\n".join("    %s %s;" % (net, reg) for net, reg in REGION_BY_NET)
        maps = "\n".join([
            keymap("openai_case", "authorization", "openai", "Bearer "),
            keymap("anthropic_case", "x_api_key", "anthropic"),
            keymap("gemini_case", "x_goog_api_key", "gemini"),
            keymap("discord_case", "authorization", "discord", "Bot "),
        ])
        # Who refuses which region (docs/providers.md): OpenAI, Anthropic's edge and
        # Gemini refuse HK; Discord serves it.
        blocked = {"openai": True, "anthropic": True, "gemini": True, "discord": False}

        def server(prov, listen, cert, server_name):
            key, chain = cert
            region_case = ('    if ($lab_region = HK) { set $case region; }\n'
                           if blocked[prov] else "")
            return """
  server {
    listen %(listen)s:443 ssl;
    server_name %(name)s;
    ssl_certificate %(chain)s;
    ssl_certificate_key %(key)s;
    location / {
      set $case $%(prov)s_case;
%(region_case)s      proxy_pass http://%(backend)s;
      proxy_http_version 1.1;
      proxy_pass_header Server;
      proxy_set_header Connection "";
      proxy_set_header X-Lab-Provider %(prov)s;
      proxy_set_header X-Lab-Case $case;
      proxy_set_header X-Lab-Region $lab_region;
      proxy_set_header X-Lab-Client $remote_addr;
      proxy_set_header X-Lab-Auth-Tail $auth_tail;
      proxy_set_header X-Lab-Version $http_anthropic_version;
      proxy_set_header Authorization "";
      proxy_set_header X-Api-Key "";
      proxy_set_header X-Goog-Api-Key "";
    }
  }
""" % {"listen": listen, "name": server_name, "chain": chain, "key": key, "prov": prov,
       "region_case": region_case, "backend": BACKEND}

        servers = []
        for prov, host in PROVIDER_HOSTS.items():
            servers.append(server(prov, GENUINE[prov], self.leaves[prov], host))
            if prov == "openai":
                servers.append(server(prov, GEO_OPENAI, self.leaves[prov], host))
            servers.append(server(prov, INTERCEPT_ADDR, self.leaves["corp"], host))
            servers.append(server(prov, EXPIRED_ADDR, self.leaves["expired"], host))
            servers.append(server(prov, WRONGNAME_ADDR, self.leaves["wrongname"], host))
        servers.append(WP.nginx_servers(self.leaves, BACKEND))
        maps += "\n" + WP.nginx_maps(K, CASES)
        # A front end for the echo server that adds a header to every request,
        # as a reverse proxy in front of a real echo would: no route is to blame.
        servers.append("""
  server {
    listen %(listen)s;
    location / {
      proxy_pass http://%(echo)s;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_set_header X-Echo-Front-End lab;
    }
  }
""" % {"listen": ECHO_FRONT, "echo": ECHO_ADDR + ":8080"})
        return """
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log %(d)s/nginx-access.log;
  client_body_temp_path %(d)s/nginx-tmp/client;
  proxy_temp_path %(d)s/nginx-tmp/proxy;
  fastcgi_temp_path %(d)s/nginx-tmp/fastcgi;
  uwsgi_temp_path %(d)s/nginx-tmp/uwsgi;
  scgi_temp_path %(d)s/nginx-tmp/scgi;
  server_tokens off;
  map_hash_bucket_size 256;
  server_names_hash_bucket_size 128;
  ssl_protocols TLSv1.2 TLSv1.3;
  geo $lab_region {
    default DE;
%(geo)s
  }
  map $http_authorization $auth_tail {
    default "";
    "~(?<tail>.{4})$" $tail;
  }
%(maps)s
%(servers)s
}
""" % {"d": d, "geo": geo, "maps": maps, "servers": "".join(servers)}

    def start_nginx(self):
        conf = self.path("nginx.conf")
        with open(conf, "w") as f:
            f.write(self.nginx_conf())
        self.ns(self.inet_ns, "nginx", "-t", "-q", "-c", conf, "-p", self.dir)
        self.spawn("nginx", self.inet_ns, ["nginx", "-c", conf, "-p", self.dir, "-g",
                                           "daemon off;"], listen=GENUINE["discord"] + ":443")

    def squid_conf(self):
        sd = self.path("squid")
        os.makedirs(sd, exist_ok=True)
        os.chmod(sd, 0o777)
        key, chain = self.leaves["corp"]
        bump = ("ssl-bump tls-cert=%s tls-key=%s generate-host-certificates=off" % (chain, key))
        names = " ".join(PROVIDER_HOSTS.values())
        return """
http_port %(plain)s:3128 name=plain
http_port %(strip)s:3128 name=strip %(bump)s
http_port %(deny)s:3128 name=deny %(bump)s
http_port %(auth)s:3128 name=auth
http_port %(noconnect)s:3128 name=noconnect
auth_param basic program /usr/lib/squid/basic_fake_auth
auth_param basic children 1 startup=0 idle=1
auth_param basic realm corp proxy
acl p_strip myportname strip
acl p_deny myportname deny
acl p_auth myportname auth
acl p_noconnect myportname noconnect
acl authed proxy_auth REQUIRED
acl providers dstdomain %(names)s
acl CONNECT method CONNECT
http_access deny p_auth !authed
http_access deny p_noconnect CONNECT providers
http_access allow CONNECT
http_access deny p_deny providers
http_access allow all
ssl_bump bump all
request_header_access Authorization deny p_strip
request_header_access All allow all
tls_outgoing_options cafile=%(ca)s
tcp_outgoing_address %(plain)s
dns_nameservers %(dns)s
hosts_file none
visible_hostname proxy.corp.example
cache deny all
cache_mem 4 MB
access_log stdio:%(sd)s/access.log
cache_log %(sd)s/cache.log
cache_store_log none
pid_filename none
coredump_dir %(sd)s
cache_effective_user proxy
shutdown_lifetime 0 seconds
connect_timeout 5 seconds
""" % {"plain": PROXY_PLAIN, "strip": PROXY_STRIP, "deny": PROXY_DENY, "bump": bump,
       "auth": PROXY_AUTH, "noconnect": PROXY_NOCONNECT,
       "names": names, "ca": self.public_roots, "dns": RESOLVERS["honest"], "sd": sd}

    def start_squid(self):
        conf = self.path("squid.conf")
        with open(conf, "w") as f:
            f.write(self.squid_conf())
        for name in ("leaf-corp.key", "leaf-corp.pem"):
            os.chmod(self.path(name), 0o644)  # squid reads them after dropping to proxy
        self.spawn("squid", self.inet_ns, ["squid", "-N", "-f", conf],
                   listen=PROXY_DENY + ":3128", deadline=20)

    def start_socks(self):
        self.spawn("microsocks", self.inet_ns,
                   ["microsocks", "-i", SOCKS, "-p", "1080", "-b", SOCKS],
                   listen=SOCKS + ":1080")

    def start_echo(self):
        listen = ECHO_ADDR + ":8080"
        pw = os.path.join(self.bin_dir, "pathwatch")
        try:
            self.spawn("echo-server", self.inet_ns, [pw, "echo-server", "--listen", listen],
                       listen=listen, deadline=3)
            self.echo_url, self.echo_kind = "http://%s/echo" % listen, "pathwatch"
            return
        except LabError as e:
            self.log("pathwatch echo-server unavailable (%s); using the httpbin-style stand-in"
                     % str(e).splitlines()[0][:160])
            self.stop("echo-server")
        self.spawn("echo-standin", self.inet_ns,
                   [PY, os.path.join(HERE, "servers.py"), "echo", "--listen", listen],
                   listen=listen)
        self.echo_url, self.echo_kind = "http://%s/anything" % listen, "standin"

    def dead_servers(self):
        """Servers that exited on their own (each is reported once)."""
        dead = []
        for n, p in list(self.procs):
            if p.poll() is not None:
                dead.append("%s (exit %s: %s)" % (n, p.returncode,
                                                  self.tail(n + ".out", 200).strip()))
                self.procs.remove((n, p))
        return dead

    def stop(self, name):
        for n, p in list(self.procs):
            if n == name:
                self._kill(p)
                self.procs.remove((n, p))

    @staticmethod
    def _kill(p):
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=3)
            except OSError:
                pass

    # ---------- teardown ----------
    def close(self):
        if self.closed:
            return
        self.closed = True
        for _, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except OSError:
                    pass
        end = time.monotonic() + 5
        for _, p in self.procs:
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
        self.procs = []
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
        self.namespaces = []
        for d in self.netns_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.netns_dirs = []
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def requests_logged(self):
        try:
            with open(self.backend_log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []
