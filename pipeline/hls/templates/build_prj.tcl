# Build script of ${project}, written by pipeline/hls (docs/hls.md): C simulation, synthesis,
# co-simulation and export with ${tool}. The steps are set in build_opt.tcl; project.tcl
# holds the part and the clock.
#
#   ${tool} -f build_prj.tcl
set tcldir [file dirname [info script]]
source [file join $$tcldir project.tcl]
source [file join $$tcldir build_opt.tcl]
foreach arg $$::argv {
    foreach name [array names opt] {
        regexp "^$$name=(\\w+)$$" $$arg unused opt($$name)
    }
}

proc report_time { step start } {
    puts "***** $$step took [expr {([clock clicks -milliseconds] - $$start) / 1000}] s *****"
}

file mkdir tb_data
if {$$opt(reset)} {
    open_project -reset $${project_name}_prj
} else {
    open_project $${project_name}_prj
}
set_top $${project_name}
add_files firmware/$${project_name}.cpp -cflags "-std=c++14"
add_files -tb $${project_name}_test.cpp -cflags "-std=c++14"
add_files -tb tb_data
if {$$opt(reset)} {
    open_solution -reset "solution1"
} else {
    open_solution "solution1"
}
set_part $$part
create_clock -period $$clock_period -name default
set_clock_uncertainty $$clock_uncertainty default
config_compile -name_max_length 80

if {$$opt(csim)} {
    puts "***** C SIMULATION (all of tb_data) *****"
    set start [clock clicks -milliseconds]
    csim_design
    report_time "C SIMULATION" $$start
}

if {$$opt(synth)} {
    puts "***** C/RTL SYNTHESIS *****"
    set start [clock clicks -milliseconds]
    csynth_design
    report_time "C/RTL SYNTHESIS" $$start
}

if {$$opt(cosim)} {
    # The testbench checks every output word and start-of-stream flag against tb_data and
    # fails the co-simulation on any difference. RTL_SIM selects the short stimulus
    # (tb_data/cosim_*.dat) unless cosim_full is set.
    set cflags "-std=c++14 -DRTL_SIM"
    if {$$opt(cosim_full)} {
        append cflags " -DCOSIM_FULL"
    }
    puts "***** C/RTL CO-SIMULATION (trace_level $$opt(trace_level)) *****"
    add_files -tb $${project_name}_test.cpp -cflags $$cflags
    set start [clock clicks -milliseconds]
    cosim_design -trace_level $$opt(trace_level)
    report_time "C/RTL CO-SIMULATION" $$start
}

if {$$opt(export)} {
    puts "***** EXPORT IP *****"
    set start [clock clicks -milliseconds]
    export_design -format ip_catalog -version $$version
    report_time "EXPORT IP" $$start
}

if {$$opt(vsynth)} {
    puts "***** VIVADO SYNTHESIS *****"
    if {[file exist $${project_name}_prj/solution1/syn/verilog]} {
        set start [clock clicks -milliseconds]
        exec vivado -mode batch -source vivado_synth.tcl >@ stdout
        report_time "VIVADO SYNTHESIS" $$start
    } else {
        puts "ERROR: Cannot find generated Verilog files. Did you run C synthesis?"
        exit 1
    }
}

exit
