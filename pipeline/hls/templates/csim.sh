#!/bin/sh
# C simulation of ${project} with plain g++, no Vivado or Vitis: builds the testbench
# (${project}_test.cpp) against the firmware and runs it on tb_data/. Exit status 0 means
# every output word equals the fixed-point reference's. CXX and CXXFLAGS may be overridden,
# e.g. CXXFLAGS="-O2 -Wall -Wextra".
set -eu
cd "$$(dirname "$$0")"
mkdir -p csim
$${CXX:-g++} $${CXXFLAGS:--O2} -std=c++14 -Ifirmware -isystem firmware/ap_types \
    ${project}_test.cpp firmware/${project}.cpp -o csim/${project}_test
./csim/${project}_test
