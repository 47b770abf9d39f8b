#ifndef ARMADA_CLIBPQ_SHIM_H
#define ARMADA_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
