WITH "_d0" AS (
  SELECT "_person", CAST("roaming" AS INTEGER) AS "_k0", sum(CASE WHEN "arpu" < ? THEN ? WHEN "arpu" > ? THEN ? ELSE "arpu" END) AS "_m1"
  FROM "subscribers"
  WHERE "lines" > ?
    AND "lines" <> ?
    AND "roaming" IS NOT NULL
  GROUP BY "_person", "_k0"
),
"_pg" AS (
  SELECT "_person", "_k0", CAST(CASE WHEN "_m1" < ? THEN ? WHEN "_m1" > ? THEN ? ELSE "_m1" END AS BIGINT) AS "_v1"
  FROM "_d0"
  QUALIFY row_number() OVER (PARTITION BY "_person" ORDER BY (((CAST(? AS BIGINT) * ? + "_person") % 2147483647 * ? + "_k0") % 2147483647 * ?) % 2147483647, "_k0") <= ?
)
SELECT "_k0", count(*) AS "_people", sum("_v1") AS "_s1", count("_v1") AS "_c1"
FROM "_pg"
GROUP BY "_k0"
ORDER BY "_k0"

-- arguments
-- 1: int64 0
-- 2: int64 0
-- 3: int64 1000000
-- 4: int64 1000000
-- 5: int64 1
-- 6: int64 7
-- 7: int64 0
-- 8: int64 0
-- 9: int64 1000000
-- 10: int64 1000000
-- 11: int64 577662373
-- 12: int64 659044154
-- 13: int64 659044154
-- 14: int64 659044154
-- 15: int64 1
