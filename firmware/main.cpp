#include "firmware/daemon.hpp"

int main(int argc, char** argv) { return meterd::run(argc, argv); }
