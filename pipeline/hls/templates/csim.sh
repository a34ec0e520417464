#!/bin/sh
# C simulation of ${project} with plain g++, no Vivado or Vitis: builds the testbench
# (${project}_test.cpp) against the firmware and runs it on tb_data/. Exit status 0 means
# every output word and start-of-stream flag equals the fixed-point reference's. CXX and
# CXXFLAGS may be overridden, e.g. CXXFLAGS="-O2 -Wall -Wextra". The weights are integer
# words here (firmware/weights/*.h, outside __SYNTHESIS__), so the build grows linearly with
# the model; the -Wno-* flags turn off GCC (11 and later) warning analyses that were slow over
# ap_fixed weight literals (README.md, "C simulation without ${backend}").
set -eu
cd "$$(dirname "$$0")"
mkdir -p csim
$${CXX:-g++} $${CXXFLAGS:--O2} -std=c++14 -Wno-free-nonheap-object -Wno-mismatched-new-delete \
    -Wno-mismatched-dealloc -Ifirmware -isystem firmware/ap_types \
    ${project}_test.cpp firmware/${project}.cpp -o csim/${project}_test
./csim/${project}_test
