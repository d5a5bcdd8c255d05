module kiln.local/netcheck

go 1.22
