"""The OpenAI-compatible providers in the lab (docs/providers.md "OpenAI-compatible
providers"): their real names, addresses, made-up keys and nginx front ends.
world.py calls these; servers_providers.py writes their answers; the scenarios are
scenarios_providers.py. README.md has the address plan.
"""
import string

# provider -> (name, address on the inet bridge). Azure has no public endpoint: the
# lab plays one customer's resource.
HOSTS = {
    "azure": ("x.openai.azure.com", "198.18.100.21"),
    "openrouter": ("openrouter.ai", "198.18.100.22"),
    "deepseek": ("api.deepseek.com", "198.18.100.23"),
    "mistral": ("api.mistral.ai", "198.18.100.24"),
    "groq": ("api.groq.com", "198.18.100.25"),
    "xai": ("api.x.ai", "198.18.100.26"),
    "together": ("api.together.xyz", "198.18.100.27"),
}
# The usual variables (Azure's is named in its custom entry, the others are built-ins).
ENV_VARS = {"azure": "AZURE_OPENAI_API_KEY", "openrouter": "OPENROUTER_API_KEY",
            "deepseek": "DEEPSEEK_API_KEY", "mistral": "MISTRAL_API_KEY",
            "groq": "GROQ_API_KEY", "xai": "XAI_API_KEY", "together": "TOGETHER_API_KEY"}
# Where nginx finds the key (the $http_ variable) and what precedes it there.
AUTH = {p: ("authorization", "Bearer ") for p in HOSTS}
AUTH["azure"] = ("api_key", "")
# Who refuses egress B (HK), per the rows: OpenRouter's own region 403, Groq's
# Cloudflare block page (seen from China), Azure's network ACL (by address). The
# others' region answers are unconfirmed: they serve HK.
REFUSES_HK = ("openrouter", "groq", "azure")
# Behind Cloudflare: they answer /cdn-cgi/trace.
CLOUDFLARE_FRONTED = ("openrouter", "groq")

HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits


def addresses():
    return [addr for _, addr in HOSTS.values()]


def host_names():
    return [name for name, _ in HOSTS.values()]


def dns_records():
    return {name: addr for name, addr in HOSTS.values()}


def make_keys(rand, cases):
    """Made-up keys in each provider's shape (rand(n, alphabet) as world._rand)."""
    keys = {}
    for case in cases:
        keys[("azure", case)] = rand(52) + "JQQJ99" + rand(26)  # the 84-character kind
        keys[("openrouter", case)] = "sk-or-v1-" + rand(64, HEX)
        keys[("deepseek", case)] = "sk-" + rand(32, HEX)
        keys[("mistral", case)] = rand(32)
        keys[("groq", case)] = "gsk_" + rand(52)
        keys[("xai", case)] = "xai-" + rand(80, ALNUM + "_")
        keys[("together", case)] = "tgp_v1_" + rand(43, ALNUM + "-_")
    return keys


def nginx_maps(keys, cases):
    out = []
    for prov in HOSTS:
        header, prefix = AUTH[prov]
        out.append("  map $http_%s $%s_case {" % (header, prov))
        out.append("    default invalid;")
        out.append('    "" nokey;')
        for case in cases:
            out.append('    "%s%s" %s;' % (prefix, keys[(prov, case)], case))
        out.append("  }")
    return "\n".join(out) + "\n"


def nginx_servers(leaves, backend):
    out = []
    for prov, (name, addr) in HOSTS.items():
        key, chain = leaves[prov]
        region = ('      if ($lab_region = HK) { set $case region; }\n'
                  if prov in REFUSES_HK else "")
        out.append("""
  server {
    listen %(addr)s:443 ssl;
    server_name %(name)s;
    ssl_certificate %(chain)s;
    ssl_certificate_key %(key)s;
    location / {
      set $case $%(prov)s_case;
%(region)s      proxy_pass http://%(backend)s;
      proxy_http_version 1.1;
      proxy_pass_header Server;
      proxy_set_header Connection "";
      proxy_set_header X-Lab-Provider %(prov)s;
      proxy_set_header X-Lab-Case $case;
      proxy_set_header X-Lab-Region $lab_region;
      proxy_set_header X-Lab-Client $remote_addr;
      proxy_set_header X-Lab-Auth-Tail $auth_tail;
      proxy_set_header Authorization "";
      proxy_set_header Api-Key "";
    }
  }
""" % {"addr": addr, "name": name, "chain": chain, "key": key, "prov": prov,
       "region": region, "backend": backend})
    return "".join(out)
