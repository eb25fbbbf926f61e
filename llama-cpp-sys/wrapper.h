#include "llama.h"
#include "ggml-cpu.h"
#include "edge_shim.h"
