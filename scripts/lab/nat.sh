# shellcheck shell=bash
# The NAT types of scripts/lab.sh (see its header): the nftables ruleset of each
# natN namespace. Sourced by lab.sh, which provides state, nx and die.

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
    *) die "unknown NAT type '$type' (port, restricted, full, hairpin, symmetric, none)" ;;
    esac
}
