-- Callback watermarks shared by the replicas (gateway/callbacks/pg-callback-watermark-store.ts): per
-- audit chain, the seq up to which the callbacks of its entries are on the bus. A gateway catching up
-- after a restart hands the callbacks of the entries after it to the dispatcher again. Writes keep the
-- larger seq (GREATEST), so replicas may write in any order. The row with the empty chain name (no
-- audit chain has one) says that watermarks are kept at all: without it a start is a fresh one.

CREATE TABLE callback_watermark (
  chain text COLLATE "C" PRIMARY KEY,
  seq bigint NOT NULL CHECK (seq >= 0)
);
