# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Compiled kernels of the RecordIO-protobuf codec.

The Python layer (``ntm.core.codec``) validates arguments and chooses dtypes; this module only moves
bytes. Every hot loop runs without the GIL so several threads can encode or decode shards at once.

Wire format (see record.proto): each record is ``magic:u32le, lrec:u32le, payload, pad to 4``; the top
three bits of ``lrec`` are MXNet's continuation flag. A payload is a ``Record`` message holding
``features["values"]`` (and optionally ``label["values"]``) as a Float32/Float64/Int32 tensor.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy
from libcpp.vector cimport vector
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

cdef extern from *:
    """
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    #include <stdint.h>
    /* Ask for transparent huge pages on a large fresh output buffer. Page faults, not copying,
       dominate writing tens of MB into new memory: 2 MiB pages cut them 512-fold (numpy does the
       same for its large arrays). A no-op where the kernel or platform lacks it. */
    static void ntm_advise_hugepages(void *p, size_t n) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        const uintptr_t huge = (uintptr_t)1 << 21;
        uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
        uintptr_t end = ((uintptr_t)p + n) & ~(huge - 1);
        if (n >= ((size_t)4 << 20) && end > start) {
            madvise((void *)start, end - start, MADV_HUGEPAGE);
        }
    #else
        (void)p; (void)n;
    #endif
    }
    """
    void ntm_advise_hugepages(void* p, size_t n) nogil


cdef object new_output(Py_ssize_t size):
    """A fresh, uninitialised bytes object of ``size`` bytes for a kernel to fill."""
    out = PyBytes_FromStringAndSize(NULL, size)
    ntm_advise_hugepages(PyBytes_AS_STRING(out), size)
    return out

# Tensor kinds; the numbers are the `Value` oneof field numbers.
DEF KIND_NONE = 0
DEF KIND_F32 = 2
DEF KIND_F64 = 3
DEF KIND_I32 = 7
DEF KIND_BYTES = 9

KIND_FLOAT32 = KIND_F32
KIND_FLOAT64 = KIND_F64
KIND_INT32 = KIND_I32

# setup.py passes the SHA-256 of this file so ntm.core can tell a stale build from a current one.
BUILD_SOURCE_SHA256 = SOURCE_SHA256

cdef uint32_t MAGIC = 0xCED7230A
cdef uint32_t LENGTH_MASK = (1 << 29) - 1
MAX_RECORD_BYTES = LENGTH_MASK

# The map-entry key every SageMaker algorithm reads: tag(1, LEN) len(6) "values".
cdef const char* VALUES_KEY = b"\x0a\x06values"


class RecordIOError(ValueError):
    """A RecordIO-protobuf buffer or file is malformed.

    ``record`` is the 0-based index of the offending record and ``offset`` the byte offset of its
    header (counted from the start of the file or buffer) when they are known, and ``source`` the
    file it came from.
    """

    def __init__(self, message, record=None, offset=None, source=None):
        where = [str(source)] if source is not None else []
        if record is not None:
            where.append(f"record {record}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        text = f"{', '.join(where)}: {message}" if where else message
        super().__init__(text)
        self.reason = message
        self.record = record
        self.offset = offset
        self.source = source


# --------------------------------------------------------------------------------------------
# Varints
# --------------------------------------------------------------------------------------------

cdef inline Py_ssize_t varint_size(uint64_t v) noexcept nogil:
    cdef Py_ssize_t n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


cdef inline uint8_t* put_varint(uint8_t* p, uint64_t v) noexcept nogil:
    while v >= 0x80:
        p[0] = <uint8_t>((v & 0x7F) | 0x80)
        v >>= 7
        p += 1
    p[0] = <uint8_t>v
    return p + 1


# Reads a varint at p[0:end]; returns the position after it, or NULL when it is truncated or
# longer than 10 bytes.
cdef inline const uint8_t* get_varint(const uint8_t* p, const uint8_t* end, uint64_t* out) noexcept nogil:
    cdef uint64_t result = 0
    cdef int shift = 0
    cdef uint8_t b
    if p < end and p[0] < 0x80:  # tags and short lengths: the common case
        out[0] = p[0]
        return p + 1
    while p < end:
        b = p[0]
        p += 1
        if shift == 63 and b > 1:
            return NULL
        result |= (<uint64_t>(b & 0x7F)) << shift
        if b < 0x80:
            out[0] = result
            return p
        shift += 7
        if shift > 63:
            return NULL
    return NULL


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------

ctypedef fused value_t:
    float
    double
    int32_t
    int64_t

ctypedef fused index_t:
    int32_t
    int64_t


cdef inline uint8_t value_tag(const value_t* _unused) noexcept nogil:
    # The Value oneof tag (field << 3 | LEN) for the tensor type that holds value_t.
    if value_t is float:
        return (KIND_F32 << 3) | 2
    elif value_t is double:
        return (KIND_F64 << 3) | 2
    else:
        return (KIND_I32 << 3) | 2


# Packed size of n values starting at v.
cdef inline Py_ssize_t packed_values_size(const value_t* v, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, total = 0
    if value_t is float:
        return 4 * n
    elif value_t is double:
        return 8 * n
    else:
        for i in range(n):
            total += varint_size(<uint64_t><int64_t>v[i])
        return total


cdef inline uint8_t* put_values(uint8_t* p, const value_t* v, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    if value_t is float:
        memcpy(p, v, 4 * n)
        return p + 4 * n
    elif value_t is double:
        memcpy(p, v, 8 * n)
        return p + 8 * n
    else:
        for i in range(n):
            p = put_varint(p, <uint64_t><int64_t>v[i])
        return p


cdef inline Py_ssize_t packed_field_size(Py_ssize_t body) noexcept nogil:
    # A packed repeated field: tag, length, body; omitted entirely when empty.
    if body == 0:
        return 0
    return 1 + varint_size(body) + body


# Size of a `features`/`label` map field whose Value holds a tensor of `tensor_size` bytes.
cdef inline Py_ssize_t entry_field_size(Py_ssize_t tensor_size) noexcept nogil:
    cdef Py_ssize_t value_size = 1 + varint_size(tensor_size) + tensor_size
    cdef Py_ssize_t entry_size = 8 + 1 + varint_size(value_size) + value_size
    return 1 + varint_size(entry_size) + entry_size


cdef inline uint8_t* put_entry_header(uint8_t* p, uint8_t field_tag, uint8_t tensor_tag,
                                      Py_ssize_t tensor_size) noexcept nogil:
    cdef Py_ssize_t value_size = 1 + varint_size(tensor_size) + tensor_size
    cdef Py_ssize_t entry_size = 8 + 1 + varint_size(value_size) + value_size
    p[0] = field_tag
    p = put_varint(p + 1, entry_size)
    memcpy(p, VALUES_KEY, 8)
    p += 8
    p[0] = 0x12  # MapEntry.value
    p = put_varint(p + 1, value_size)
    p[0] = tensor_tag
    return put_varint(p + 1, tensor_size)


cdef inline uint8_t* put_packed_header(uint8_t* p, uint8_t tag, Py_ssize_t body) noexcept nogil:
    p[0] = tag
    return put_varint(p + 1, body)


cdef inline Py_ssize_t framed_size(Py_ssize_t payload) noexcept nogil:
    return 8 + ((payload + 3) & ~(<Py_ssize_t>3))


cdef inline uint8_t* put_frame_header(uint8_t* p, Py_ssize_t payload) noexcept nogil:
    cdef uint32_t header[2]
    header[0] = MAGIC
    header[1] = <uint32_t>payload
    memcpy(p, header, 8)
    return p + 8


cdef inline uint8_t* put_padding(uint8_t* p, Py_ssize_t payload) noexcept nogil:
    cdef Py_ssize_t pad = ((payload + 3) & ~(<Py_ssize_t>3)) - payload
    while pad > 0:
        p[0] = 0
        p += 1
        pad -= 1
    return p


# Labels arrive as raw bytes of a float32, float64 or int64 (range-checked to int32) vector, with
# their tensor kind; they may differ in type from the features, as in the SDK.
cdef inline Py_ssize_t label_body(int kind, const uint8_t* lab, Py_ssize_t row) noexcept nogil:
    cdef int64_t v
    if kind == KIND_F32:
        return 4
    if kind == KIND_F64:
        return 8
    memcpy(&v, lab + 8 * row, 8)
    return varint_size(<uint64_t>v)


cdef inline Py_ssize_t label_field_size(int kind, const uint8_t* lab, Py_ssize_t row) noexcept nogil:
    if kind == KIND_NONE:
        return 0
    return entry_field_size(packed_field_size(label_body(kind, lab, row)))


cdef inline uint8_t* put_label(uint8_t* p, int kind, const uint8_t* lab, Py_ssize_t row) noexcept nogil:
    cdef int64_t v
    cdef Py_ssize_t body
    if kind == KIND_NONE:
        return p
    body = label_body(kind, lab, row)
    p = put_entry_header(p, 0x12, <uint8_t>((kind << 3) | 2), packed_field_size(body))
    p = put_packed_header(p, 0x0A, body)
    if kind == KIND_F32 or kind == KIND_F64:
        memcpy(p, lab + body * row, body)
        return p + body
    memcpy(&v, lab + 8 * row, 8)
    return put_varint(p, <uint64_t>v)


def _check_record_size(Py_ssize_t payload, Py_ssize_t row):
    if payload > LENGTH_MASK:
        raise ValueError(
            f"row {row} encodes to {payload} bytes; a RecordIO record holds at most {LENGTH_MASK} bytes"
        )


cdef Py_ssize_t dense_payload_size(const value_t* row, Py_ssize_t ncols, Py_ssize_t label_size) noexcept nogil:
    cdef Py_ssize_t tensor = packed_field_size(packed_values_size(row, ncols))
    return entry_field_size(tensor) + label_size


def encode_dense_rows(const value_t[:, ::1] array, int label_kind=KIND_NONE, const uint8_t[::1] labels=None):
    """Frame every row of a C-contiguous 2-D array as one dense Record; return the bytes.

    ``labels`` holds one label per row (see ``label_body``) when ``label_kind`` is not KIND_NONE.
    """
    cdef Py_ssize_t nrows = array.shape[0], ncols = array.shape[1]
    cdef Py_ssize_t i, total = 0, payload, body, label_size = 0
    cdef const value_t* base = &array[0, 0] if nrows > 0 and ncols > 0 else NULL
    cdef const uint8_t* lab = _label_pointer(label_kind, labels, nrows)
    cdef vector[Py_ssize_t] payloads
    cdef uint8_t* p
    cdef uint8_t tag

    payloads.resize(nrows)
    with nogil:
        for i in range(nrows):
            label_size = label_field_size(label_kind, lab, i)
            payloads[i] = dense_payload_size(base + i * ncols, ncols, label_size)
            total += framed_size(payloads[i])
    for i in range(nrows):
        _check_record_size(payloads[i], i)

    out = new_output(total)
    p = <uint8_t*>PyBytes_AS_STRING(out)
    tag = value_tag(base)
    with nogil:
        for i in range(nrows):
            payload = payloads[i]
            body = packed_values_size(base + i * ncols, ncols)
            p = put_frame_header(p, payload)
            p = put_entry_header(p, 0x0A, tag, packed_field_size(body))
            if body:
                p = put_packed_header(p, 0x0A, body)
                p = put_values(p, base + i * ncols, ncols)
            p = put_label(p, label_kind, lab, i)
            p = put_padding(p, payload)
    return out


cdef inline Py_ssize_t keys_size(const index_t* idx, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, total = 0
    for i in range(n):
        total += varint_size(<uint64_t>idx[i])
    return total


cdef inline uint8_t* put_keys(uint8_t* p, const index_t* idx, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        p = put_varint(p, <uint64_t>idx[i])
    return p


def encode_csr_rows(const value_t[::1] data, const index_t[::1] indices, const index_t[::1] indptr,
                    Py_ssize_t ncols, int label_kind=KIND_NONE, const uint8_t[::1] labels=None):
    """Frame every row of a CSR matrix as one sparse Record (values, keys, shape=[ncols]).

    Rows keep the CSR's own order of entries, explicit zeros and duplicates included, exactly as the
    SageMaker SDK writes them. The caller has checked indptr and indices.
    """
    cdef Py_ssize_t nrows = indptr.shape[0] - 1
    cdef Py_ssize_t i, start, n, total = 0, payload, vbody, kbody, sbody, tensor, label_size = 0
    cdef const value_t* vals = &data[0] if data.shape[0] > 0 else NULL
    cdef const index_t* keys = &indices[0] if indices.shape[0] > 0 else NULL
    cdef const uint8_t* lab = _label_pointer(label_kind, labels, nrows)
    cdef vector[Py_ssize_t] payloads
    cdef uint8_t* p
    cdef uint8_t tag

    sbody = varint_size(<uint64_t>ncols)
    payloads.resize(nrows)
    with nogil:
        for i in range(nrows):
            start = indptr[i]
            n = indptr[i + 1] - start
            tensor = (packed_field_size(packed_values_size(vals + start, n))
                      + packed_field_size(keys_size(keys + start, n))
                      + packed_field_size(sbody))
            label_size = label_field_size(label_kind, lab, i)
            payloads[i] = entry_field_size(tensor) + label_size
            total += framed_size(payloads[i])
    for i in range(nrows):
        _check_record_size(payloads[i], i)

    out = new_output(total)
    p = <uint8_t*>PyBytes_AS_STRING(out)
    tag = value_tag(vals)
    with nogil:
        for i in range(nrows):
            payload = payloads[i]
            start = indptr[i]
            n = indptr[i + 1] - start
            vbody = packed_values_size(vals + start, n)
            kbody = keys_size(keys + start, n)
            tensor = packed_field_size(vbody) + packed_field_size(kbody) + packed_field_size(sbody)
            p = put_frame_header(p, payload)
            p = put_entry_header(p, 0x0A, tag, tensor)
            if vbody:
                p = put_packed_header(p, 0x0A, vbody)
                p = put_values(p, vals + start, n)
            if kbody:
                p = put_packed_header(p, 0x12, kbody)
                p = put_keys(p, keys + start, n)
            p = put_packed_header(p, 0x1A, sbody)
            p = put_varint(p, <uint64_t>ncols)
            p = put_label(p, label_kind, lab, i)
            p = put_padding(p, payload)
    return out


cdef const uint8_t* _label_pointer(int kind, const uint8_t[::1] labels, Py_ssize_t nrows) except? NULL:
    cdef Py_ssize_t itemsize
    if kind == KIND_NONE:
        return NULL
    itemsize = 4 if kind == KIND_F32 else 8
    if labels is None or labels.shape[0] != itemsize * nrows:
        raise ValueError(f"labels must hold {nrows} values of {itemsize} bytes")
    return &labels[0] if nrows else NULL


def frame_payloads(payloads):
    """Frame already-serialized payloads (bytes-like) the way the SDK's writer does."""
    cdef Py_ssize_t total = 0, n
    cdef const uint8_t[::1] view
    cdef uint8_t* p
    for i, payload in enumerate(payloads):
        n = len(payload)
        _check_record_size(n, i)
        total += framed_size(n)
    out = new_output(total)
    p = <uint8_t*>PyBytes_AS_STRING(out)
    for payload in payloads:
        view = memoryview(payload).cast("B")
        n = view.shape[0]
        p = put_frame_header(p, n)
        if n:
            memcpy(p, &view[0], n)
        p = put_padding(p + n, n)
    return out


# --------------------------------------------------------------------------------------------
# Framing (reading)
# --------------------------------------------------------------------------------------------

cdef struct Frame:
    Py_ssize_t offset      # byte offset of the (first) header, for error messages
    Py_ssize_t start       # payload start within the buffer; -1 when joined into `joined`
    Py_ssize_t length      # payload length
    Py_ssize_t joined      # index into the list of joined payloads, or -1


# Error codes for the nogil scanners; the messages live in Python.
DEF OK = 0
DEF E_TRUNC_HEADER = 1
DEF E_MAGIC = 2
DEF E_TRUNC_PAYLOAD = 3
DEF E_FLAG = 4
DEF E_TRUNC_SPLIT = 5
DEF E_TRUNC_PAD = 6

cdef dict FRAME_ERRORS = {
    E_TRUNC_HEADER: "truncated record header: {left} bytes left, 8 needed",
    E_MAGIC: "bad magic number 0x{value:08X} (expected 0xCED7230A): not a RecordIO file, or a corrupt one",
    E_TRUNC_PAYLOAD: "record length {value} runs past the end of the data ({left} bytes left after the header)",
    E_FLAG: "invalid MXNet continuation flag {value} here (a split record must start with flag 1 and end with flag 3)",
    E_TRUNC_SPLIT: "the data ends inside a split record (continuation flag {value} was not followed by its end part)",
    E_TRUNC_PAD: "padding after the payload is truncated ({left} bytes left, {value} needed)",
}


cdef int scan_one(const uint8_t* buf, Py_ssize_t size, Py_ssize_t pos, uint32_t* flag,
                  Py_ssize_t* length, Py_ssize_t* err_value, Py_ssize_t* err_left) noexcept nogil:
    """Reads one physical header at pos; on success sets flag and length (payload fits, pad fits)."""
    cdef uint32_t header[2]
    cdef Py_ssize_t left = size - pos, padded
    if left < 8:
        err_left[0] = left
        return E_TRUNC_HEADER
    memcpy(header, buf + pos, 8)
    if header[0] != MAGIC:
        err_value[0] = header[0]
        return E_MAGIC
    flag[0] = header[1] >> 29
    length[0] = header[1] & LENGTH_MASK
    left -= 8
    if length[0] > left:
        err_value[0] = length[0]
        err_left[0] = left
        return E_TRUNC_PAYLOAD
    padded = (length[0] + 3) & ~(<Py_ssize_t>3)
    if padded > left:
        err_value[0] = padded - length[0]
        err_left[0] = left - length[0]
        return E_TRUNC_PAD
    return OK


cdef Py_ssize_t count_headers(const uint8_t* buf, Py_ssize_t size, Py_ssize_t max_records) noexcept nogil:
    """How many well-formed headers follow one another from buf (a capacity hint, not a check)."""
    cdef Py_ssize_t pos = 0, count = 0
    cdef uint32_t header[2]
    while pos + 8 <= size and count != max_records:
        memcpy(header, buf + pos, 8)
        if header[0] != MAGIC:
            break
        pos += 8 + (((header[1] & LENGTH_MASK) + 3) & ~(<Py_ssize_t>3))
        count += 1
    return count


# Called for each logical record as it is framed; a non-zero return stops the scan.
ctypedef int (*frame_visitor)(void* context, Py_ssize_t offset, const uint8_t* payload,
                              Py_ssize_t length) noexcept nogil


cdef Py_ssize_t scan_frames(const uint8_t* buf, Py_ssize_t size, Py_ssize_t max_records,
                            vector[Frame]* frames, list joined, Py_ssize_t base_offset, Py_ssize_t base_record,
                            frame_visitor visit=NULL, void* context=NULL, Py_ssize_t* visited=NULL) except -1:
    """Frames up to max_records logical records (all when max_records < 0); returns the end position.

    Each record is appended to ``frames`` (when not NULL) and passed to ``visit`` (when not NULL),
    which may stop the scan early; ``visited`` receives the number of records seen. Split records
    (MXNet flags 1, 2..., 3) are joined into a bytes object kept in ``joined``, re-inserting the
    magic the writer removed.
    """
    cdef Py_ssize_t pos = 0, length = 0, err_value = 0, err_left = 0, count = 0
    cdef uint32_t flag = 0
    cdef int err = OK, stop = 0
    cdef Frame frame
    cdef Py_ssize_t header_pos
    cdef const uint8_t[::1] whole_view
    if frames != NULL:
        frames.reserve(frames.size() + count_headers(buf, size, max_records))
    while pos < size and count != max_records and not stop:
        with nogil:
            while True:
                err = scan_one(buf, size, pos, &flag, &length, &err_value, &err_left)
                if err != OK or flag != 0:
                    break
                if frames != NULL:
                    frame.offset = pos
                    frame.start = pos + 8
                    frame.length = length
                    frame.joined = -1
                    frames.push_back(frame)
                count += 1
                if visit != NULL:
                    stop = visit(context, pos, buf + pos + 8, length)
                pos += 8 + ((length + 3) & ~(<Py_ssize_t>3))
                if stop or pos >= size or count == max_records:
                    break
        if err != OK:
            _raise_frame_error(err, err_value, err_left, base_record + count, base_offset + pos)
        if flag == 0 or stop:
            continue
        # A split record.
        header_pos = pos
        if flag != 1:
            _raise_frame_error(E_FLAG, flag, 0, base_record + count, base_offset + pos)
        parts = []
        while True:
            parts.append(bytes(buf[pos + 8:pos + 8 + length]))
            pos += 8 + ((length + 3) & ~(<Py_ssize_t>3))
            if flag == 3:
                break
            if pos >= size:
                _raise_frame_error(E_TRUNC_SPLIT, flag, 0, base_record + count, base_offset + header_pos)
            err = scan_one(buf, size, pos, &flag, &length, &err_value, &err_left)
            if err != OK:
                _raise_frame_error(err, err_value, err_left, base_record + count, base_offset + pos)
            if flag != 2 and flag != 3:
                _raise_frame_error(E_FLAG, flag, 0, base_record + count, base_offset + pos)
        whole = MAGIC.to_bytes(4, "little").join(parts)
        if frames != NULL:
            frame.offset = header_pos
            frame.start = -1
            frame.joined = len(joined)
            frame.length = len(whole)
            frames.push_back(frame)
        joined.append(whole)
        count += 1
        if visit != NULL:
            whole_view = whole
            stop = visit(context, header_pos, &whole_view[0], len(whole))
    if visited != NULL:
        visited[0] = count
    return pos


cdef _raise_frame_error(int err, Py_ssize_t value, Py_ssize_t left, Py_ssize_t record, Py_ssize_t offset):
    raise RecordIOError(FRAME_ERRORS[err].format(value=value, left=left), record, offset)


def split_payloads(data, Py_ssize_t base_offset=0):
    """Return the payloads of every record in ``data`` as a list of bytes (split records joined)."""
    cdef const uint8_t[::1] view = _as_bytes_view(data)
    cdef vector[Frame] frames
    cdef list joined = []
    cdef Py_ssize_t size = view.shape[0]
    cdef const uint8_t* buf = &view[0] if size else NULL
    scan_frames(buf, size, -1, &frames, joined, base_offset, 0)
    out = []
    for i in range(frames.size()):
        if frames[i].joined >= 0:
            out.append(joined[frames[i].joined])
        else:
            out.append(bytes(view[frames[i].start:frames[i].start + frames[i].length]))
    return out


def record_offsets(data):
    """Byte offset of every record header in ``data`` (one per logical record)."""
    cdef const uint8_t[::1] view = _as_bytes_view(data)
    cdef vector[Frame] frames
    cdef Py_ssize_t size = view.shape[0]
    scan_frames(&view[0] if size else NULL, size, -1, &frames, [], 0, 0)
    return [frames[i].offset for i in range(frames.size())]


def find_batch_end(data, Py_ssize_t start, Py_ssize_t max_records, Py_ssize_t base_record=0):
    """Return (end, count): the byte position after the next ``max_records`` records from ``start``.

    Only headers are read, so this indexes a memory-mapped file without touching the payloads.
    """
    cdef const uint8_t[::1] view = _as_bytes_view(data)
    cdef vector[Frame] frames
    cdef Py_ssize_t size = view.shape[0]
    if start > size:
        raise ValueError("start is past the end of the data")
    end = scan_frames((&view[0] if size else NULL) + start, size - start, max_records, &frames, [], start, base_record)
    return start + end, <Py_ssize_t>frames.size()


cdef const uint8_t[::1] _as_bytes_view(data) except *:
    if isinstance(data, (bytes, bytearray)):
        return data
    view = memoryview(data)
    if not view.c_contiguous:
        raise TypeError("the data must be a contiguous bytes-like object")
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return view


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

# Where a tensor's repeated fields live inside a payload. Repeated fields may be split into
# several chunks (packed or not); `first`/`last` bound the tensor message so pass two can re-walk it.
cdef struct Tensor:
    int kind
    const uint8_t* msg
    Py_ssize_t msg_len
    Py_ssize_t nvalues
    Py_ssize_t nkeys
    Py_ssize_t nshape
    uint64_t shape0
    # The common layout (at most one packed chunk of values and of keys) is remembered here so pass
    # two copies straight from it; anything else (`simple` false) is re-walked field by field.
    bint simple
    const uint8_t* values
    Py_ssize_t values_len
    const uint8_t* keys
    Py_ssize_t keys_len

cdef struct Parsed:
    Tensor features
    Tensor label
    bint has_features
    bint has_label
    bint sparse
    Py_ssize_t width
    Py_ssize_t offset  # of the record's header, for errors found in pass two

DEF P_OK = 0
DEF P_TRUNC = 1          # a malformed varint, or a length that runs past its message
DEF P_WIRETYPE = 3       # a known field with the wrong wire type
DEF P_BAD_WIRETYPE = 4   # groups / reserved wire types
DEF P_BAD_PACKED = 5     # packed fixed-width data whose length is not a multiple of the width
DEF P_FIELD_ZERO = 6

cdef dict PARSE_ERRORS = {
    P_TRUNC: "malformed protobuf in {field}: a varint is malformed or a length runs past the end of its message",
    P_WIRETYPE: "malformed protobuf: {field} has wire type {value}, which that field cannot have",
    P_BAD_WIRETYPE: "malformed protobuf in {field}: unsupported wire type {value} (groups are not allowed)",
    P_BAD_PACKED: "malformed protobuf: {field} is packed {value} bytes long, not a multiple of the value size",
    P_FIELD_ZERO: "malformed protobuf in {field}: field number 0",
}


cdef struct Cursor:
    const uint8_t* p
    const uint8_t* end
    int err
    int err_value
    int err_where


# Where an error was found (names for messages).
DEF W_RECORD = 0
DEF W_ENTRY = 1
DEF W_VALUE = 2
DEF W_VALUES = 3
DEF W_KEYS = 4
DEF W_SHAPE = 5
DEF W_TENSOR = 6

cdef list WHERE_NAMES = ["Record", "map entry", "Value", "tensor.values", "tensor.keys", "tensor.shape", "tensor"]


cdef inline bint read_tag(Cursor* c, uint64_t* field, int* wire, int where) noexcept nogil:
    cdef uint64_t tag
    cdef const uint8_t* q = get_varint(c.p, c.end, &tag)
    if q == NULL:
        c.err = P_TRUNC
        c.err_where = where
        return False
    c.p = q
    field[0] = tag >> 3
    wire[0] = <int>(tag & 7)
    if field[0] == 0:
        c.err = P_FIELD_ZERO
        c.err_where = where
        return False
    return True


# Reads a LEN field's extent: sets start/len and advances past it.
cdef inline bint read_len(Cursor* c, const uint8_t** start, Py_ssize_t* length, int where) noexcept nogil:
    cdef uint64_t n
    cdef const uint8_t* q = get_varint(c.p, c.end, &n)
    if q == NULL or n > <uint64_t>(c.end - q):
        c.err = P_TRUNC
        c.err_where = where
        return False
    start[0] = q
    length[0] = <Py_ssize_t>n
    c.p = q + n
    return True


cdef inline bint skip_field(Cursor* c, int wire, int where) noexcept nogil:
    cdef uint64_t ignored
    cdef const uint8_t* s
    cdef Py_ssize_t n
    if wire == 0:
        s = get_varint(c.p, c.end, &ignored)
        if s == NULL:
            c.err = P_TRUNC
            c.err_where = where
            return False
        c.p = s
    elif wire == 1 or wire == 5:
        n = 8 if wire == 1 else 4
        if c.end - c.p < n:
            c.err = P_TRUNC
            c.err_where = where
            return False
        c.p += n
    elif wire == 2:
        return read_len(c, &s, &n, where)
    else:
        c.err = P_BAD_WIRETYPE
        c.err_value = wire
        c.err_where = where
        return False
    return True


# Counts the varints in [p, end) and their maximum; False when one is malformed.
cdef inline bint count_varints(Cursor* c, const uint8_t* p, const uint8_t* end, Py_ssize_t* count,
                               uint64_t* maximum, uint64_t* last, int where) noexcept nogil:
    cdef uint64_t v
    while p < end:
        p = get_varint(p, end, &v)
        if p == NULL:
            c.err = P_TRUNC
            c.err_where = where
            return False
        count[0] += 1
        if v > maximum[0]:
            maximum[0] = v
        last[0] = v
    return True


cdef inline Py_ssize_t count_terminators(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """How many bytes in p[0:n] end a varint (high bit clear), eight bytes at a time."""
    cdef Py_ssize_t i = 0, count = 0
    cdef uint64_t word
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        # One bit per terminator byte, moved to bit 0 of its byte, then summed by a multiply.
        count += (((~word & 0x8080808080808080ULL) >> 7) * 0x0101010101010101ULL) >> 56
        i += 8
    while i < n:
        count += p[i] < 0x80
        i += 1
    return count


cdef inline int fixed_width(int kind) noexcept nogil:
    if kind == KIND_F32:
        return 4
    if kind == KIND_F64:
        return 8
    return 0


# Pass one over a tensor message: counts values, keys and shape entries, checks every wire type.
cdef bint scan_tensor(Cursor* c, Tensor* t) noexcept nogil:
    cdef Cursor inner
    cdef uint64_t field, v, ignored
    cdef int wire, width = fixed_width(t.kind)
    cdef const uint8_t* s
    cdef Py_ssize_t n
    inner.p = t.msg
    inner.end = t.msg + t.msg_len
    inner.err = P_OK
    cdef int value_chunks = 0, key_chunks = 0
    t.nvalues = 0
    t.nkeys = 0
    t.nshape = 0
    t.simple = True
    t.values = NULL
    t.values_len = 0
    t.keys = NULL
    t.keys_len = 0
    while inner.p < inner.end:
        if not read_tag(&inner, &field, &wire, W_TENSOR):
            break
        if field == 1:
            value_chunks += 1
            if wire == 2:
                if not read_len(&inner, &s, &n, W_VALUES):
                    break
                t.values = s
                t.values_len = n
                if width:
                    if n % width:
                        inner.err = P_BAD_PACKED
                        inner.err_value = <int>n
                        inner.err_where = W_VALUES
                        break
                    t.nvalues += n // width
                elif not count_varints(&inner, s, s + n, &t.nvalues, &ignored, &v, W_VALUES):
                    break
            elif (width == 4 and wire == 5) or (width == 8 and wire == 1) or (width == 0 and wire == 0):
                if not skip_field(&inner, wire, W_VALUES):
                    break
                t.nvalues += 1
                t.simple = False
            else:
                inner.err = P_WIRETYPE
                inner.err_value = wire
                inner.err_where = W_VALUES
                break
        elif field == 2 or field == 3:
            if wire == 2:
                if not read_len(&inner, &s, &n, W_KEYS if field == 2 else W_SHAPE):
                    break
            elif wire == 0:
                s = inner.p
                if not skip_field(&inner, 0, W_KEYS if field == 2 else W_SHAPE):
                    break
                n = inner.p - s
            else:
                inner.err = P_WIRETYPE
                inner.err_value = wire
                inner.err_where = W_KEYS if field == 2 else W_SHAPE
                break
            if field == 2:
                key_chunks += 1
                t.keys = s
                t.keys_len = n
                t.simple = t.simple and wire == 2
                # Count keys by their terminating bytes (vectorisable); pass two decodes them and
                # checks their range and form, so each key is decoded once.
                if n and s[n - 1] >= 0x80:
                    inner.err = P_TRUNC
                    inner.err_where = W_KEYS
                    break
                t.nkeys += count_terminators(s, n)
            else:
                ignored = 0
                if not count_varints(&inner, s, s + n, &t.nshape, &ignored, &t.shape0, W_SHAPE):
                    break
        elif not skip_field(&inner, wire, W_TENSOR):
            break
    if inner.err != P_OK:
        c.err = inner.err
        c.err_value = inner.err_value
        c.err_where = inner.err_where
        return False
    t.simple = t.simple and value_chunks <= 1 and key_chunks <= 1
    return True


# Parses one map entry; sets *tensor when its key is "values" (other keys are ignored, as the
# algorithms ignore them). Returns False on a malformed entry.
cdef bint parse_entry(Cursor* c, const uint8_t* msg, Py_ssize_t msg_len, Tensor* tensor, bint* found) noexcept nogil:
    cdef Cursor e, v
    cdef uint64_t field
    cdef int wire
    cdef const uint8_t* key = NULL
    cdef const uint8_t* value = NULL
    cdef const uint8_t* s
    cdef Py_ssize_t key_len = 0, value_len = 0, n
    cdef int kind = KIND_NONE
    cdef const uint8_t* tmsg = NULL
    cdef Py_ssize_t tlen = 0
    e.p = msg
    e.end = msg + msg_len
    e.err = P_OK
    while e.p < e.end:
        if not read_tag(&e, &field, &wire, W_ENTRY):
            break
        if field == 1 or field == 2:
            if wire != 2:
                e.err = P_WIRETYPE
                e.err_value = wire
                e.err_where = W_ENTRY
                break
            if field == 1:
                if not read_len(&e, &key, &key_len, W_ENTRY):
                    break
            else:
                if not read_len(&e, &value, &value_len, W_ENTRY):
                    break
        elif not skip_field(&e, wire, W_ENTRY):
            break
    if e.err != P_OK:
        c.err = e.err
        c.err_value = e.err_value
        c.err_where = e.err_where
        return False
    if key_len != 6 or key == NULL or memcmp_values(key) != 0:
        return True
    # Parse the Value: the last oneof member seen wins, as in protobuf.
    v.p = value
    v.end = value + value_len
    v.err = P_OK
    while v.p < v.end:
        if not read_tag(&v, &field, &wire, W_VALUE):
            break
        if field == KIND_F32 or field == KIND_F64 or field == KIND_I32 or field == KIND_BYTES:
            if wire != 2:
                v.err = P_WIRETYPE
                v.err_value = wire
                v.err_where = W_VALUE
                break
            if not read_len(&v, &s, &n, W_VALUE):
                break
            kind = <int>field
            tmsg = s
            tlen = n
        elif not skip_field(&v, wire, W_VALUE):
            break
    if v.err != P_OK:
        c.err = v.err
        c.err_value = v.err_value
        c.err_where = v.err_where
        return False
    tensor.kind = kind
    tensor.msg = tmsg
    tensor.msg_len = tlen
    found[0] = True
    if kind == KIND_F32 or kind == KIND_F64 or kind == KIND_I32:
        return scan_tensor(c, tensor)
    return True


cdef inline int memcmp_values(const uint8_t* key) noexcept nogil:
    cdef const char* want = b"values"
    cdef int i
    for i in range(6):
        if key[i] != <uint8_t>want[i]:
            return 1
    return 0


# Fast path: the exact layout the SageMaker SDK (and our encoder) writes. Anything else, or anything
# suspicious, returns False and goes through the general parser above, which has the final word.
cdef const char* VALUES_ENTRY_PREFIX = b"\x0a\x06values\x12"


# Marks a tensor whose keys pass one did not count: pass two checks that there is one per value.
DEF KEYS_UNCOUNTED = -1
DEF BAD_VARINT = 0xFFFFFFFFFFFFFFFF
DEF BAD_COUNT = 0xFFFFFFFFFFFFFFFE


cdef inline bint scan_tensor_canonical(Tensor* t) noexcept nogil:
    """Packed float values, then packed keys, then a one-entry packed shape, each at most once."""
    cdef const uint8_t* p = t.msg
    cdef const uint8_t* end = t.msg + t.msg_len
    cdef const uint8_t* q
    cdef uint64_t n, v
    cdef int width = fixed_width(t.kind)
    if width == 0:
        return False  # int32 values need a varint scan: the general path does it
    t.nvalues = 0
    t.nkeys = 0
    t.nshape = 0
    t.simple = True
    t.values = NULL
    t.values_len = 0
    t.keys = NULL
    t.keys_len = 0
    if p < end and p[0] == 0x0A:
        p = get_varint(p + 1, end, &n)
        if p == NULL or n > <uint64_t>(end - p) or n % width:
            return False
        t.nvalues = <Py_ssize_t>n // width
        t.values = p
        t.values_len = <Py_ssize_t>n
        p += n
    if p < end and p[0] == 0x12:
        p = get_varint(p + 1, end, &n)
        if p == NULL or n == 0 or n > <uint64_t>(end - p) or p[n - 1] >= 0x80:
            return False
        t.keys = p
        t.keys_len = <Py_ssize_t>n
        t.nkeys = KEYS_UNCOUNTED  # pass two counts them as it decodes them
        p += n
    if p < end and p[0] == 0x1A:
        p = get_varint(p + 1, end, &n)
        if p == NULL or n == 0 or n > <uint64_t>(end - p):
            return False
        q = get_varint(p, p + n, &v)
        if q != p + n:
            return False
        t.nshape = 1
        t.shape0 = v
        p = q
    return p == end


cdef inline bint parse_entry_canonical(const uint8_t* msg, Py_ssize_t msg_len, Tensor* t) noexcept nogil:
    """An entry {key: "values", value: {<tensor>}} with nothing else in it."""
    cdef const uint8_t* end = msg + msg_len
    cdef const uint8_t* p
    cdef uint64_t n
    cdef int kind
    if msg_len < 11 or memcmp(msg, VALUES_ENTRY_PREFIX, 9) != 0:
        return False
    p = get_varint(msg + 9, end, &n)
    if p == NULL or n != <uint64_t>(end - p) or n < 2:
        return False
    kind = p[0] >> 3
    if (p[0] & 7) != 2 or (kind != KIND_F32 and kind != KIND_F64):
        return False
    p = get_varint(p + 1, end, &n)
    if p == NULL or n != <uint64_t>(end - p):
        return False
    t.kind = kind
    t.msg = p
    t.msg_len = <Py_ssize_t>n
    return scan_tensor_canonical(t)


cdef bint parse_record(Cursor* c, const uint8_t* payload, Py_ssize_t length, Parsed* out) noexcept nogil:
    cdef uint64_t field
    cdef int wire
    cdef const uint8_t* s
    cdef Py_ssize_t n
    c.p = payload
    c.end = payload + length
    c.err = P_OK
    out.has_features = False
    out.has_label = False
    out.features.kind = KIND_NONE
    out.label.kind = KIND_NONE
    while c.p < c.end:
        if not read_tag(c, &field, &wire, W_RECORD):
            return False
        if field == 1 or field == 2:
            if wire != 2:
                c.err = P_WIRETYPE
                c.err_value = wire
                c.err_where = W_RECORD
                return False
            if not read_len(c, &s, &n, W_RECORD):
                return False
            if field == 1:
                if parse_entry_canonical(s, n, &out.features):
                    out.has_features = True
                elif not parse_entry(c, s, n, &out.features, &out.has_features):
                    return False
            else:
                if parse_entry_canonical(s, n, &out.label):
                    out.has_label = True
                elif not parse_entry(c, s, n, &out.label, &out.has_label):
                    return False
        elif field <= 5 and wire != 2:
            c.err = P_WIRETYPE
            c.err_value = wire
            c.err_where = W_RECORD
            return False
        elif not skip_field(c, wire, W_RECORD):
            return False
    return True


cdef dict KIND_NAMES = {KIND_NONE: "no tensor", KIND_F32: "float32", KIND_F64: "float64",
                        KIND_I32: "int32", KIND_BYTES: "bytes"}


# Semantic problems found after parsing; codes so the check runs without the GIL.
DEF C_OK = 0
DEF C_NO_FEATURES = 1
DEF C_BYTES = 2
DEF C_NO_TENSOR = 3
DEF C_RANK = 4
DEF C_KEYS_NO_SHAPE = 5
DEF C_KEYS_VALUES = 6
DEF C_DENSE_SHAPE = 8
DEF C_WIDTH_LIMIT = 9
DEF C_LABEL_TYPE = 10
DEF C_LABEL_COUNT = 11
DEF C_WIDTH_MISMATCH = 12
DEF C_LABEL_MISSING = 13
DEF C_LABEL_EXTRA = 14
DEF C_NO_MEMORY = 15


cdef int check_parsed(Parsed* r) noexcept nogil:
    """Checks that need no data pass; sets sparse/width. Returns a C_* code."""
    cdef Tensor* f = &r.features
    if not r.has_features:
        return C_NO_FEATURES
    if f.kind == KIND_BYTES:
        return C_BYTES
    if f.kind == KIND_NONE:
        return C_NO_TENSOR
    if f.nshape > 1:
        return C_RANK
    if f.nkeys:
        if f.nshape != 1:
            return C_KEYS_NO_SHAPE
        if f.nkeys == KEYS_UNCOUNTED and f.nvalues == 0:
            return C_KEYS_VALUES  # keys, but not one value to go with them
        if f.nkeys != KEYS_UNCOUNTED and f.nkeys != f.nvalues:
            return C_KEYS_VALUES
        r.sparse = True
    elif f.nshape == 1 and f.nvalues == 0:
        r.sparse = True  # an all-zero sparse row
    elif f.nshape == 1 and <uint64_t>f.nvalues != f.shape0:
        return C_DENSE_SHAPE
    else:
        r.sparse = False
    if r.sparse and f.shape0 > 0x7FFFFFFF:
        return C_WIDTH_LIMIT
    r.width = <Py_ssize_t>f.shape0 if r.sparse else f.nvalues
    if r.has_label:
        if r.label.kind == KIND_BYTES or r.label.kind == KIND_NONE:
            return C_LABEL_TYPE
        if r.label.nvalues != 1 or r.label.nkeys:
            return C_LABEL_COUNT
    return C_OK


cdef Py_ssize_t key_count(const Tensor* t) noexcept nogil:
    if t.nkeys != KEYS_UNCOUNTED:
        return t.nkeys
    return count_terminators(t.keys, t.keys_len)


cdef str describe_problem(int code, Parsed* r, Py_ssize_t width):
    cdef Tensor* f = &r.features
    if code == C_NO_FEATURES:
        return 'the record has no features["values"]'
    if code == C_BYTES:
        return 'features["values"] holds a Bytes value, which cannot be converted to a numeric array'
    if code == C_NO_TENSOR:
        return 'features["values"] holds no tensor'
    if code == C_RANK:
        return f'features["values"] has a {f.nshape}-dimensional shape; only vectors (shape [width]) are supported'
    if code == C_KEYS_NO_SHAPE:
        return f'features["values"] has {key_count(f)} keys but no shape; a sparse tensor needs shape [width]'
    if code == C_KEYS_VALUES:
        return f'features["values"] has {key_count(f)} keys but {f.nvalues} values'
    if code == C_DENSE_SHAPE:
        return f'features["values"] is dense with {f.nvalues} values but its shape says {f.shape0}'
    if code == C_WIDTH_LIMIT:
        return f'features["values"] has shape [{f.shape0}]; widths above 2**31 - 1 are not supported'
    if code == C_LABEL_TYPE:
        return f'label["values"] holds {KIND_NAMES[r.label.kind]}, not a numeric tensor'
    if code == C_LABEL_COUNT:
        return f'label["values"] must hold exactly one value, not {r.label.nvalues}'
    if code == C_WIDTH_MISMATCH:
        return (f"row width {r.width} differs from the width {width} of the records before it"
                " (every record in one data set must have the same number of features)")
    if code == C_LABEL_MISSING:
        return "this record has no label but the records before it do"
    return "this record has a label but the records before it do not"


# Pass two: copy values (converted to the output type) and keys.
ctypedef fused out_t:
    float
    double
    int32_t


cdef inline Py_ssize_t convert_values(int kind, const uint8_t* s, const uint8_t* e, out_t* out) noexcept nogil:
    """Converts the packed values in [s, e) into out; returns how many."""
    cdef Py_ssize_t i = 0
    cdef uint64_t v
    cdef float f
    cdef double d
    if kind == KIND_F32:
        if out_t is float:
            memcpy(out, s, e - s)
            return (e - s) // 4
        while s < e:
            memcpy(&f, s, 4)
            out[i] = <out_t>f
            s += 4
            i += 1
    elif kind == KIND_F64:
        if out_t is double:
            memcpy(out, s, e - s)
            return (e - s) // 8
        while s < e:
            memcpy(&d, s, 8)
            out[i] = <out_t>d
            s += 8
            i += 1
    else:
        while s < e:
            s = get_varint(s, e, &v)  # validated in pass one
            out[i] = <out_t>(<int32_t>v)
            i += 1
    return i


cdef inline Py_ssize_t fill_values(const Tensor* t, out_t* out) noexcept nogil:
    """Writes the tensor's values to out; returns how many it wrote."""
    cdef Cursor c
    cdef uint64_t field
    cdef int wire
    cdef const uint8_t* s
    cdef Py_ssize_t n, i = 0
    if t.simple:
        if t.values == NULL:
            return 0
        return convert_values(t.kind, t.values, t.values + t.values_len, out)
    c.p = t.msg
    c.end = t.msg + t.msg_len
    c.err = P_OK
    while c.p < c.end:
        read_tag(&c, &field, &wire, W_TENSOR)
        if field != 1:
            skip_field(&c, wire, W_TENSOR)
            continue
        if wire == 2:
            read_len(&c, &s, &n, W_VALUES)
            i += convert_values(t.kind, s, s + n, out + i)
        else:
            s = c.p
            skip_field(&c, wire, W_VALUES)
            i += convert_values(t.kind, s, c.p, out + i)
    return i


cdef inline Py_ssize_t decode_keys(const uint8_t* s, const uint8_t* e, int32_t* out, Py_ssize_t room,
                                   uint64_t limit, uint64_t* bad) noexcept nogil:
    """Decodes at most ``room`` keys in [s, e) into out; returns how many, or -1 setting *bad to the
    key outside [0, limit), to BAD_VARINT for a malformed varint or to BAD_COUNT when more than
    ``room`` keys are there."""
    cdef uint64_t v
    cdef Py_ssize_t n = 0
    while s < e and n < room:
        if s + 1 < e and s[1] < 0x80 and s[0] >= 0x80:  # two bytes: columns 128..16383
            v = (s[0] & 0x7F) | (<uint64_t>s[1] << 7)
            s += 2
        elif s[0] < 0x80:
            v = s[0]
            s += 1
        else:
            s = get_varint(s, e, &v)
            if s == NULL:
                bad[0] = BAD_VARINT
                return -1
        if v >= limit:
            bad[0] = v
            return -1
        out[n] = <int32_t>v
        n += 1
    if s < e:
        bad[0] = BAD_COUNT
        return -1
    return n


cdef inline bint fill_keys(const Tensor* t, int32_t* out, uint64_t* bad) noexcept nogil:
    """Decodes the tensor's keys (one per value) into out; False (with *bad set, see decode_keys)
    on a bad key or a key count that differs from the value count."""
    cdef Cursor c
    cdef uint64_t field
    cdef int wire
    cdef const uint8_t* s
    cdef Py_ssize_t n, room = t.nvalues
    if t.simple:
        if t.keys == NULL:
            return True
        n = decode_keys(t.keys, t.keys + t.keys_len, out, room, t.shape0, bad)
        if n >= 0 and n != room:
            bad[0] = BAD_COUNT
            return False
        return n >= 0
    c.p = t.msg
    c.end = t.msg + t.msg_len
    c.err = P_OK
    while c.p < c.end:
        read_tag(&c, &field, &wire, W_TENSOR)
        if field != 2:
            skip_field(&c, wire, W_TENSOR)
            continue
        if wire == 2:
            read_len(&c, &s, &n, W_KEYS)
        else:
            s = c.p
            skip_field(&c, wire, W_KEYS)
            n = c.p - s
        n = decode_keys(s, s + n, out, room, t.shape0, bad)
        if n < 0:
            return False
        out += n
        room -= n
    return True


cdef class DecodedIndex:
    """Pass one over a buffer: every record framed, parsed and validated, with the totals that size
    the output arrays; pass two (fill_*) copies values out of the parsed records.

    Records live in a plain malloc'd array rather than a std::vector: a vector zero-fills each
    ~200-byte entry it adds, which cost a fifth of pass one; parse_record sets what is read.
    """
    cdef Parsed* records
    cdef Py_ssize_t nrecords
    cdef Py_ssize_t capacity
    cdef list joined
    cdef object owner
    cdef public object feature_kinds
    cdef public object label_kinds
    cdef public Py_ssize_t width
    cdef public Py_ssize_t nnz
    cdef public bint any_sparse
    cdef public Py_ssize_t sparse_rows
    cdef public bint has_labels
    cdef Py_ssize_t base_offset
    cdef Py_ssize_t base_record

    @property
    def num_records(self):
        return self.nrecords

    def __dealloc__(self):
        free(self.records)

    cdef Parsed* append(self) noexcept nogil:
        """Room for one more record, or NULL when memory runs out."""
        cdef Py_ssize_t grown
        cdef Parsed* moved
        if self.nrecords == self.capacity:
            grown = max(16, self.capacity * 2)
            moved = <Parsed*>realloc(self.records, grown * sizeof(Parsed))
            if moved == NULL:
                return NULL
            self.records = moved
            self.capacity = grown
        self.nrecords += 1
        return &self.records[self.nrecords - 1]

    cdef reserve(self, Py_ssize_t capacity):
        cdef Parsed* moved
        if capacity > self.capacity:
            moved = <Parsed*>realloc(self.records, capacity * sizeof(Parsed))
            if moved == NULL:
                raise MemoryError()
            self.records = moved
            self.capacity = capacity

    cdef raise_at(self, Py_ssize_t i, str problem):
        raise RecordIOError(problem, self.base_record + i, self.base_offset + self.records[i].offset)


# Running state of pass one, updated by index_visitor as scan_frames hands it each record.
cdef struct IndexState:
    void* index        # the DecodedIndex being filled (borrowed)
    Cursor cursor
    int code           # C_OK, a C_* problem, or -1 for a protobuf error in `cursor`
    Py_ssize_t width
    int labelled       # -1 before the first record
    int feature_kinds
    int label_kinds
    Py_ssize_t nnz
    Py_ssize_t sparse_rows


cdef int index_visitor(void* context, Py_ssize_t offset, const uint8_t* payload, Py_ssize_t length) noexcept nogil:
    cdef IndexState* state = <IndexState*>context
    cdef Parsed* r
    cdef int code
    r = (<DecodedIndex>state.index).append()
    if r == NULL:
        state.code = C_NO_MEMORY
        return 1
    r.offset = offset
    if not parse_record(&state.cursor, payload, length, r):
        state.code = -1
        return 1
    code = check_parsed(r)
    if code == C_OK:
        if state.width < 0:
            state.width = r.width
        elif r.width != state.width:
            code = C_WIDTH_MISMATCH
        elif state.labelled >= 0 and state.labelled != r.has_label:
            code = C_LABEL_EXTRA if r.has_label else C_LABEL_MISSING
    if code != C_OK:
        state.code = code
        return 1
    state.labelled = r.has_label
    state.feature_kinds |= 1 << r.features.kind
    if r.has_label:
        state.label_kinds |= 1 << r.label.kind
    state.nnz += r.features.nvalues
    state.sparse_rows += r.sparse
    return 0


def index_records(data, Py_ssize_t base_offset=0, Py_ssize_t base_record=0):
    """Frame, parse and validate every record in ``data``; raise RecordIOError on the first problem."""
    cdef DecodedIndex idx = DecodedIndex()
    cdef const uint8_t[::1] view = _as_bytes_view(data)
    cdef Py_ssize_t size = view.shape[0], last
    cdef const uint8_t* buf = &view[0] if size else NULL
    cdef IndexState state
    idx.joined = []
    idx.owner = view
    idx.base_offset = base_offset
    idx.base_record = base_record
    idx.reserve(count_headers(buf, size, -1))
    state.index = <void*>idx
    state.code = C_OK
    state.width = -1
    state.labelled = -1
    state.feature_kinds = state.label_kinds = 0
    state.nnz = state.sparse_rows = 0
    scan_frames(buf, size, -1, NULL, idx.joined, base_offset, base_record, index_visitor, &state)
    if state.code != C_OK:
        if state.code == C_NO_MEMORY:
            raise MemoryError("no memory left to index the records")
        last = idx.nrecords - 1
        if state.code == -1:
            idx.raise_at(last, PARSE_ERRORS[state.cursor.err].format(
                field=WHERE_NAMES[state.cursor.err_where], value=state.cursor.err_value))
        idx.raise_at(last, describe_problem(state.code, &idx.records[last], state.width))
    idx.any_sparse = state.sparse_rows > 0
    idx.sparse_rows = state.sparse_rows
    idx.width = max(state.width, 0)
    idx.nnz = state.nnz
    idx.has_labels = state.labelled == 1
    idx.feature_kinds = [k for k in (KIND_F32, KIND_F64, KIND_I32) if state.feature_kinds & (1 << k)]
    idx.label_kinds = [k for k in (KIND_F32, KIND_F64, KIND_I32) if state.label_kinds & (1 << k)]
    return idx


def fill_dense(DecodedIndex idx, out_t[:, ::1] out):
    """Fill an (nrows, width) array from indexed records that are all dense."""
    cdef Py_ssize_t i
    if idx.any_sparse:
        raise ValueError("sparse records decode to CSR; use fill_csr")
    if out.shape[1] == 0:
        return
    with nogil:
        for i in range(idx.nrecords):
            fill_values(&idx.records[i].features, &out[i, 0])


def fill_csr(DecodedIndex idx, out_t[::1] data, int32_t[::1] indices, int64_t[::1] indptr):
    """Fill CSR arrays (data/indices of length nnz, indptr of length nrows+1)."""
    cdef Py_ssize_t i, j, pos = 0, n
    cdef Parsed* r = NULL
    cdef uint64_t bad = 0
    cdef bint ok = True
    with nogil:
        indptr[0] = 0
        for i in range(idx.nrecords):
            r = &idx.records[i]
            n = r.features.nvalues
            if n:
                fill_values(&r.features, &data[pos])
                if r.sparse:
                    if not fill_keys(&r.features, &indices[pos], &bad):
                        ok = False
                        break
                else:
                    for j in range(n):
                        indices[pos + j] = <int32_t>j
            pos += n
            indptr[i + 1] = pos
    if not ok:
        if bad == BAD_VARINT:
            idx.raise_at(i, "malformed protobuf in tensor.keys: a varint is malformed")
        if bad == BAD_COUNT:
            idx.raise_at(i, f'features["values"] has {key_count(&r.features)} keys but {r.features.nvalues} values')
        idx.raise_at(i, f'features["values"] has key {bad} outside its shape [{r.features.shape0}]')


def fill_labels(DecodedIndex idx, out_t[::1] out):
    cdef Py_ssize_t i
    with nogil:
        for i in range(idx.nrecords):
            fill_values(&idx.records[i].label, &out[i])
