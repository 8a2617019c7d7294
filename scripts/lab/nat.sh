# shellcheck shell=bash
# The NAT types of scripts/lab.sh (see its header): the nftables ruleset of each
# natN namespace. Sourced by lab.sh, which provides state, nx and die.

# Public ports of the sequential NAT: 30000 to 30000+SEQ_PORTS-1.
SEQ_PORTS=4096

nat_type_of() {
    local n=$1
    sed -n "${n}p" "$(state)/nats"
}

# nat_rules N TYPE TIMEOUT: the nftables ruleset of natN.
nat_rules() {
    local n=$1 type=$2 t=$3
    case $type in
    none) return 0 ;;
    port)
        nx "nat$n" nft -f - <<EOF
table ip labnat {
  chain guard {
    type filter hook input priority filter; policy accept;
    iifname "wan" meta l4proto udp ct state new drop
  }
  chain natpost {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
  }
}
EOF
        ;;
    symmetric)
        nx "nat$n" nft -f - <<EOF
table ip labnat {
  chain guard {
    type filter hook input priority filter; policy accept;
    iifname "wan" meta l4proto udp ct state new drop
  }
  chain natpost {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade fully-random
  }
}
EOF
        ;;
    preserving)
        # Port-preserving symmetric NAT (RFC 6081 section 3.3): the first
        # mapping of an inside endpoint keeps its port (plain masquerade), every
        # further one (another destination) gets a random port. @used holds the
        # inside endpoints that have a mapping; the nat chain only sees the first
        # packet of a flow, so the filter chain "keep" refreshes the element on
        # every packet of any of the endpoint's flows (both directions): without
        # it the element would expire after ${t}s even in steady use, and a new
        # destination would then get the same port again (a cone).
        nx "nat$n" nft -f - <<EOF
table ip labnat {
  set used {
    type ipv4_addr . inet_service
    flags dynamic,timeout
    timeout ${t}s
  }
  chain keep {
    type filter hook forward priority filter; policy accept;
    meta l4proto udp ct original ip saddr . ct original proto-src @used update @used { ct original ip saddr . ct original proto-src timeout ${t}s }
  }
  chain guard {
    type filter hook input priority filter; policy accept;
    iifname "wan" meta l4proto udp ct state new drop
  }
  chain natpost {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ip saddr . udp sport @used masquerade fully-random
    oifname "wan" meta l4proto udp add @used { ip saddr . udp sport timeout ${t}s } masquerade
    oifname "wan" masquerade
  }
}
EOF
        ;;
    sequential)
        # Sequential port-symmetric NAT (RFC 6081 section 3.4): every new UDP
        # mapping (any inside endpoint, any destination) takes the next port of
        # one counter, 30000 to 30000+SEQ_PORTS-1, then wraps. Through a map:
        # "masquerade to :numgen inc ..." loads but nft 1.0.6 puts numgen's
        # host-order value into the port unswapped (30000, 30001, ... become
        # 12405, 12661, ...), while a map's inet_service data is network order.
        local seq="" i
        for ((i = 0; i < SEQ_PORTS; i++)); do seq+="$i : $((30000 + i)), "; done
        nx "nat$n" nft -f - <<EOF
table ip labnat {
  map seq {
    typeof numgen inc mod $SEQ_PORTS : udp sport
    elements = { ${seq%, } }
  }
  chain guard {
    type filter hook input priority filter; policy accept;
    iifname "wan" meta l4proto udp ct state new drop
  }
  chain natpost {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" meta l4proto udp masquerade to :numgen inc mod $SEQ_PORTS map @seq
    oifname "wan" masquerade
  }
}
EOF
        ;;
    full | restricted | hairpin)
        local match="" loop_pre="" loop_post=""
        [[ $type == restricted ]] && match="ip saddr . udp dport @peers"
        if [[ $type == hairpin ]]; then
            # A full cone that also loops packets from inside to its own public
            # address back in, from the sender's public mapping (RFC 4787 REQ-9).
            loop_pre="iifname \"lan\" ip daddr 203.0.113.$n udp dport @cone dnat ip to udp dport map @cone"
            loop_post="iifname \"lan\" oifname \"lan\" snat ip to 203.0.113.$n"
        fi
        nx "nat$n" nft -f - <<EOF
table ip labnat {
  map cone {
    type inet_service : ipv4_addr . inet_service
    flags dynamic,timeout
    timeout ${t}s
  }
  set peers {
    type ipv4_addr . inet_service
    flags dynamic,timeout
    timeout ${t}s
  }
  chain track {
    type filter hook forward priority filter; policy accept;
    iifname "lan" update @cone { udp sport timeout ${t}s : ip saddr . udp sport }
    iifname "lan" update @peers { ip daddr . udp sport timeout ${t}s }
  }
  chain natpre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan" $match udp dport @cone dnat ip to udp dport map @cone
    $loop_pre
  }
  chain guard {
    type filter hook input priority filter; policy accept;
    iifname "wan" meta l4proto udp ct state new drop
  }
  chain natpost {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
    $loop_post
  }
}
EOF
        ;;
    *) die "unknown NAT type '$type' (port, restricted, full, hairpin, symmetric," \
        "preserving, sequential, none)" ;;
    esac
}
