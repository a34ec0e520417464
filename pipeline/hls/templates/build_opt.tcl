# The steps build_prj.tcl runs (1: run). Edit them here, or give name=value arguments after
# the script where your tool passes them on (README.md, "Synthesis").
#   csim        C simulation of the testbench on all of tb_data/
#   synth       C synthesis
#   cosim       C/RTL co-simulation on the short stimulus tb_data/cosim_*.dat
#   cosim_full  co-simulate all of tb_data/ instead (slow: every sample takes the design's
#               interval in clocks of RTL simulation)
#   trace_level cosim waveforms: none, port or all (all: every signal, gigabytes)
#   export      IP catalog export;  vsynth  Vivado logic synthesis of the RTL
array set opt {
    reset       0
    csim        1
    synth       1
    cosim       1
    cosim_full  0
    trace_level none
    export      0
    vsynth      0
}
