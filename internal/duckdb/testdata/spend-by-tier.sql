WITH "_d0" AS (
  SELECT "_person", CASE "tier" WHEN ? THEN 0 WHEN ? THEN 1 END AS "_k0"
  FROM "subscribers"
  WHERE "payment_behaviour" = ?
    AND "tier" IN (?, ?)
    AND "tier" IN (?, ?)
  GROUP BY "_person", "_k0"
),
"_d1" AS (
  SELECT "_person", sum(CASE WHEN "monthly_spend" < ? THEN ? WHEN "monthly_spend" > ? THEN ? ELSE "monthly_spend" END) AS "_m1", sum(CASE WHEN "monthly_spend" < ? THEN ? WHEN "monthly_spend" > ? THEN ? ELSE "monthly_spend" END) AS "_m2", sum(CASE WHEN "products" < ? THEN ? WHEN "products" > ? THEN ? ELSE "products" END) AS "_m3"
  FROM "customers"
  WHERE "balance" >= ?
    AND "segment" <> ?
  GROUP BY "_person"
),
"_pg" AS (
  SELECT "_person", "_k0", CAST(CASE WHEN "_m1" < ? THEN ? WHEN "_m1" > ? THEN ? ELSE "_m1" END AS BIGINT) AS "_v1", CAST(CASE WHEN "_m2" < ? THEN ? WHEN "_m2" > ? THEN ? ELSE "_m2" END AS BIGINT) AS "_v2", CAST(CASE WHEN "_m3" < ? THEN ? WHEN "_m3" > ? THEN ? ELSE "_m3" END AS BIGINT) AS "_v3"
  FROM "_d0" JOIN "_d1" USING ("_person")
  QUALIFY row_number() OVER (PARTITION BY "_person" ORDER BY (((CAST(? AS BIGINT) * ? + "_person") % 2147483647 * ? + "_k0") % 2147483647 * ?) % 2147483647, "_k0") <= ?
)
SELECT "_k0", count(*) AS "_people", sum("_v1") AS "_s1", count("_v1") AS "_c1", sum("_v2") AS "_s2", count("_v2") AS "_c2", sum("_v3") AS "_s3", count("_v3") AS "_c3"
FROM "_pg"
GROUP BY "_k0"
ORDER BY "_k0"

-- arguments
-- 1: string standard
-- 2: string premium
-- 3: string late
-- 4: string standard
-- 5: string premium
-- 6: string standard
-- 7: string premium
-- 8: int64 0
-- 9: int64 0
-- 10: int64 2000000
-- 11: int64 2000000
-- 12: int64 0
-- 13: int64 0
-- 14: int64 2000000
-- 15: int64 2000000
-- 16: int64 0
-- 17: int64 0
-- 18: int64 10
-- 19: int64 10
-- 20: int64 1235
-- 21: string private
-- 22: int64 0
-- 23: int64 0
-- 24: int64 2000000
-- 25: int64 2000000
-- 26: int64 0
-- 27: int64 0
-- 28: int64 2000000
-- 29: int64 2000000
-- 30: int64 0
-- 31: int64 0
-- 32: int64 10
-- 33: int64 10
-- 34: int64 577662373
-- 35: int64 659044154
-- 36: int64 659044154
-- 37: int64 659044154
-- 38: int64 1
