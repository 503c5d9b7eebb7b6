# Sourced by .ci/run: puts a Node.js that meets package.json's engines.node (">=MAJOR.MINOR") first
# on PATH. The machine's node is used when it is new enough; otherwise the current LTS binary from
# the npm registry (the node-linux-<arch> package ships it, with its headers for node-gyp), cached
# under PW_CI_NODE_CACHE (default ~/.cache/parallel-workers/node-<major>).
PW_CI_NODE_MAJOR="${PW_CI_NODE_MAJOR:-24}"

pw_ci_node_min() {
  sed -n 's/^ *"node": *">=\([0-9][0-9.]*\)".*/\1/p' package.json | head -n 1
}

# true when `node` on PATH is at least $1
pw_ci_node_ok() {
  local have
  have="$(node --version 2>/dev/null)" || return 1
  have="${have#v}"
  [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$1" "$have" | sort -V | head -n 1)" = "$1" ]
}

pw_ci_use_node() {
  local min arch cache home
  min="$(pw_ci_node_min)"
  if [ -z "$min" ]; then
    echo "CI: package.json has no engines.node of the form \">=MAJOR.MINOR\"" >&2
    return 1
  fi
  if pw_ci_node_ok "$min"; then
    return 0
  fi
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "CI: Node.js $min or newer is needed and no node-linux package fits $(uname -m)" >&2; return 1 ;;
  esac
  cache="${PW_CI_NODE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/parallel-workers/node-$PW_CI_NODE_MAJOR}"
  home="$cache/node_modules/node-linux-$arch"
  if [ ! -x "$home/bin/node" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "CI: Node.js $min or newer is needed; the machine has $(node --version 2>/dev/null || echo none) and no npm to fetch one with" >&2
      return 1
    fi
    echo "CI: the machine's node is $(node --version 2>/dev/null || echo missing); installing node-linux-$arch@$PW_CI_NODE_MAJOR from the npm registry into $cache"
    npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error "node-linux-$arch@$PW_CI_NODE_MAJOR" >/dev/null
  fi
  export PATH="$home/bin:$PATH"
  # node-gyp builds native modules against this node's headers, not the machine's
  export npm_config_nodedir="$home"
  if ! pw_ci_node_ok "$min"; then
    echo "CI: $home/bin/node is $(node --version 2>/dev/null || echo broken), not $min or newer" >&2
    return 1
  fi
  echo "CI: using node $(node --version) from $home/bin"
}
