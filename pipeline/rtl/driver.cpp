// Streams samples through the CXXRTL model of the generated design, one clock at a time.
//
// Built by pipeline/rtl/cxxrtl.py with -DTOP=<the top module's class> and the header that
// yosys's write_cxxrtl wrote. stdin holds one record per sample: a 32-bit flags word (bit 0:
// start of stream, the AXI4-Stream tuser) and the s_axis_tdata chunks (32 bits each, least
// significant first). stdout gets one record per output sample in the same form. The cycle
// counts go to stderr as one JSON line.
//
// The source offers a sample whenever it has one and the sink is always ready, unless
// stall percentages are given: `driver [source_idle_percent sink_busy_percent seed]` then
// withholds tvalid and tready on pseudo-random cycles, to exercise the handshakes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include CXXRTL_HEADER

namespace {

struct Random {
    uint64_t state;
    uint32_t next() {  // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return static_cast<uint32_t>((state * 0x2545F4914F6CDD1DULL) >> 32);
    }
    bool percent(unsigned p) { return p != 0 && next() % 100 < p; }
};

std::vector<uint32_t> read_all(FILE *in) {
    std::vector<uint32_t> words;
    uint32_t buffer[4096];
    size_t got;
    while ((got = std::fread(buffer, sizeof(uint32_t), 4096, in)) > 0)
        words.insert(words.end(), buffer, buffer + got);
    return words;
}

}  // namespace

int main(int argc, char **argv) {
    cxxrtl_design::TOP top;
    using InData = decltype(top.p_s__axis__tdata);
    using OutData = decltype(top.p_m__axis__tdata);
    const size_t in_record = 1 + InData::chunks, out_record = 1 + OutData::chunks;
    const unsigned idle = argc > 1 ? std::atoi(argv[1]) : 0;
    const unsigned busy = argc > 2 ? std::atoi(argv[2]) : 0;
    Random random{argc > 3 ? std::strtoull(argv[3], nullptr, 10) | 1 : 1};

    std::vector<uint32_t> input = read_all(stdin);
    if (input.size() % in_record != 0) {
        std::fprintf(stderr, "driver: input is not whole records of %zu words\n", in_record);
        return 2;
    }
    const size_t samples = input.size() / in_record;
    std::vector<uint32_t> output;
    output.reserve(samples * out_record);

    top.p_rst.set<bool>(true);
    for (int edge = 0; edge < 4; edge++) {
        top.p_clk.set<bool>(edge % 2 == 1);
        top.step();
    }
    top.p_rst.set<bool>(false);
    top.p_clk.set<bool>(true);
    top.step();

    uint64_t cycle = 0, first_accept = 0, last_accept = 0, first_output = 0;
    uint64_t interval_min = UINT64_MAX, interval_max = 0;
    size_t sent = 0, received = 0;
    const uint64_t limit = 100000 + 100000ULL * (samples + 1);
    while (received < samples) {
        if (cycle > limit) {
            std::fprintf(stderr, "driver: %zu of %zu samples out after %llu cycles\n",
                         received, samples, static_cast<unsigned long long>(cycle));
            return 3;
        }
        const bool offer = sent < samples && !random.percent(idle);
        if (offer) {
            const uint32_t *record = &input[sent * in_record];
            top.p_s__axis__tuser.set<bool>(record[0] & 1);
            for (size_t chunk = 0; chunk < InData::chunks; chunk++)
                top.p_s__axis__tdata.data[chunk] = record[1 + chunk];
        }
        top.p_s__axis__tvalid.set<bool>(offer);
        const bool ready = !random.percent(busy);
        top.p_m__axis__tready.set<bool>(ready);
        // One evaluation per cycle, at the rising edge (CXXRTL sees an edge when the clock
        // was low at the last commit, which `prev_p_clk` records; the clock itself stays
        // high). The top level's outputs depend on registers only, so the values this
        // evaluation gives them are those just before the edge: they decide the edge's
        // handshakes. The flip-flops take their new values at the commit.
        top.prev_p_clk.set<bool>(false);
        if (!top.eval()) {
            std::fprintf(stderr, "driver: the design did not settle in one evaluation\n");
            return 4;
        }
        if (offer && top.p_s__axis__tready.get<bool>()) {
            if (sent == 0) {
                first_accept = cycle;
            } else {
                const uint64_t gap = cycle - last_accept;
                interval_min = gap < interval_min ? gap : interval_min;
                interval_max = gap > interval_max ? gap : interval_max;
            }
            last_accept = cycle;
            sent++;
        }
        if (ready && top.p_m__axis__tvalid.get<bool>()) {
            if (received == 0) first_output = cycle;
            output.push_back(top.p_m__axis__tuser.get<bool>() ? 1 : 0);
            for (size_t chunk = 0; chunk < OutData::chunks; chunk++)
                output.push_back(top.p_m__axis__tdata.data[chunk]);
            received++;
        }
        top.commit();
        cycle++;
    }
    std::fwrite(output.data(), sizeof(uint32_t), output.size(), stdout);
    std::fprintf(stderr,
                 "{\"samples\": %zu, \"cycles\": %llu, \"interval_min\": %llu, "
                 "\"interval_max\": %llu, \"latency\": %llu}\n",
                 samples, static_cast<unsigned long long>(cycle),
                 static_cast<unsigned long long>(samples > 1 ? interval_min : 0),
                 static_cast<unsigned long long>(interval_max),
                 static_cast<unsigned long long>(first_output - first_accept));
    return 0;
}
