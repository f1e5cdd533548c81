# SPDX-License-Identifier: BSD-2-Clause
#
# Plots of smt-bench results: gnuplot -e "dir='OUT'; losses='0 1 2'"
# scripts/bench-plot.gp reads OUT/latency.dat, throughput.dat and
# hol_cdf_<loss>.dat (written by smt-bench client) and writes latency.png,
# throughput.png and hol_cdf.png next to them. Transports keep one colour
# everywhere: SMT natively on IP red, SMT over UDP orange, UDP grey, TCP
# blue, TLS green, QUIC purple.

if (!exists("dir")) dir = "build/bench"
if (!exists("losses")) losses = "0 1 2"
# bench.sh passes what the plots are: the run (meta), how rows were
# aggregated (agg) and the SMT/TLS ratios the latency and rate plots show
if (!exists("meta")) meta = "smt-bench results in ".dir
if (!exists("agg")) agg = "median of rounds"
if (!exists("latratio")) latratio = ""
if (!exists("thrratio")) thrratio = ""

set terminal pngcairo size 1000,650 font ",10" noenhanced
set datafile missing "?"
set key top left
set grid
set style line 1 lc rgb "#d62728" lw 2 pt 7
set style line 2 lc rgb "#7f7f7f" lw 2 pt 5
set style line 3 lc rgb "#1f77b4" lw 2 pt 9
set style line 4 lc rgb "#2ca02c" lw 2 pt 11
set style line 5 lc rgb "#ff7f0e" lw 2 pt 13
set style line 6 lc rgb "#9467bd" lw 2 pt 15
# in the order of smt-bench's data files (enum bench_tp)
names = "SMT/IP UDP TCP TLS SMT/UDP QUIC"
ntp = words(names)

# ---- latency by size: p50 solid, p99 dashed ----
set output dir."/latency.png"
set title "Unloaded RPC latency by size (one outstanding; ".agg.")"
set label 1 meta at screen 0.01, 0.015 font ",8"
if (strlen(latratio) > 0) {
	set label 2 "p50 SMT/UDP / TLS and SMT/IP / TLS; SMT/UDP / QUIC: ".latratio at screen 0.01, 0.045 font ",8"
}
set bmargin 6
set logscale xy
set xlabel "request = response size (bytes)"
set ylabel "latency (us)"
plot for [t=1:ntp] dir."/latency.dat" using 1:(column(2*t)) with linespoints \
	ls t title word(names, t)." p50", \
     for [t=1:ntp] dir."/latency.dat" using 1:(column(2*t+1)) with linespoints \
	ls t dt 2 title word(names, t)." p99"
unset logscale
unset label 2

# ---- throughput by outstanding RPCs, one panel per size ----
sizes = system("cat ".dir."/throughput.sizes 2>/dev/null | tr '\\n' ' '")
nsz = words(sizes)
if (nsz > 0) {
	set output dir."/throughput.png"
	set multiplot layout 1, nsz title "RPC rate by outstanding RPCs (".agg.")"
	if (strlen(thrratio) > 0) {
		set label 2 "rate SMT/UDP / TLS; SMT/UDP / QUIC: ".thrratio at screen 0.01, 0.045 font ",8"
	}
	set logscale x 2
	set xlabel "outstanding RPCs"
	set ylabel "kRPC/s"
	do for [i=1:nsz] {
		set title word(sizes, i)." B"
		plot for [t=1:ntp] dir."/throughput.dat" index (i-1) \
			using 1:(column(t+1)) with linespoints ls t \
			title word(names, t)
	}
	unset multiplot
	unset logscale
	unset label 2
}

# ---- head-of-line: CDF of the small RPCs, one panel per loss rate ----
nl = words(losses)
if (nl > 0) {
	set output dir."/hol_cdf.png"
	set multiplot layout 1, nl title "64 B RPCs sharing a connection/session with 1 MiB RPCs: latency CDF (rounds pooled)"
	set logscale x
	set xlabel "small-RPC latency (us)"
	set ylabel "fraction of RPCs"
	set yrange [0:1]
	set key bottom right
	do for [i=1:nl] {
		set title word(losses, i)." % loss"
		f = dir."/hol_cdf_".word(losses, i).".dat"
		# blocks in file order: smt udp tcp tls smt-udp quic; UDP does
		# not run
		plot for [t=1:ntp] f index (t-1) using 1:2 with lines ls t \
			title word(names, t)
	}
	unset multiplot
}
