//! Packets the router originates (ICMP errors, ARP, neighbour advertisements).
