#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Prints a kubeconfig with which fleet-ilb reaches one member cluster as
# system:serviceaccount:fleet-ilb-system:fleet-ilb (deploy/member must be applied there first).
# The token comes from the TokenRequest API and expires (--duration); re-run before it does and
# replace the Secret (deploy/README.md, "Rotating member credentials"). No long-lived token Secret.
#
#   deploy/scripts/member-kubeconfig.sh [--kubeconfig FILE] [--context MEMBER_CONTEXT] [--duration 720h] [--server URL] > member.kubeconfig
#
# --kubeconfig kubeconfig file of the member (default: $KUBECONFIG / ~/.kube/config), e.g. a local
#            fleet's <dir>/member-a.kubeconfig
# --context  kubectl context of the member (default: the current context)
# --duration token lifetime (default 720h; the apiserver may cap it, see --service-account-max-token-expiration)
# --server   API server URL as the config cluster's Pods must reach it (default: the context's server)
set -euo pipefail

kubeconfig=""
context=""
duration="720h"
server=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kubeconfig) kubeconfig="$2"; shift 2 ;;
    --context) context="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    -h|--help) sed -n '3,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

kc=(kubectl)
if [ -n "$kubeconfig" ]; then kc+=(--kubeconfig "$kubeconfig"); fi
if [ -n "$context" ]; then kc+=(--context "$context"); fi

# The cluster entry of the chosen context, with its CA inlined (--raw keeps certificate data).
if [ -z "$server" ]; then
  server="$("${kc[@]}" config view --minify --raw -o jsonpath='{.clusters[0].cluster.server}')"
fi
ca="$("${kc[@]}" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
if [ -z "$ca" ]; then
  ca_file="$("${kc[@]}" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority}')"
  if [ -n "$ca_file" ]; then ca="$(base64 -w0 < "$ca_file")"; fi
fi
if [ -z "$ca" ]; then
  echo "member-kubeconfig: the context has no certificate authority; refusing to write an insecure kubeconfig" >&2
  exit 1
fi

token="$("${kc[@]}" -n fleet-ilb-system create token fleet-ilb --duration="$duration")"

cat <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: member
    cluster:
      server: ${server}
      certificate-authority-data: ${ca}
users:
  - name: fleet-ilb
    user:
      token: ${token}
contexts:
  - name: fleet-ilb@member
    context:
      cluster: member
      user: fleet-ilb
current-context: fleet-ilb@member
KUBECONFIG
