#include "err.h"

const char *werr_str(int code)
{
    switch (code) {
    case WERR_OK: return "ok";
    case WERR_NOTFOUND: return "not found";
    case WERR_EXISTS: return "exists";
    case WERR_INVALID: return "invalid";
    case WERR_TOOBIG: return "too big";
    case WERR_DIGEST: return "digest mismatch";
    case WERR_RANGE: return "range not satisfiable";
    case WERR_DENIED: return "denied";
    case WERR_UNSUPPORTED: return "unsupported";
    case WERR_IO: return "i/o error";
    case WERR_NOMEM: return "out of memory";
    case WERR_BUSY: return "busy";
    case WERR_NOSPACE: return "no space left";
    }
    return "unknown error";
}
