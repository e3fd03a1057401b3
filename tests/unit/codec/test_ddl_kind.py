"""DDL type codes from the statement text: the ActionType TiDB gives each statement
(as TiCDC's tests pin it by running the statement in TiDB) and canal-json's type."""

import pytest

from cdcsink.codec.common.ddl_kind import canal_type, classify

R = "ticdc pkg/routing/router_supported_ddl_test.go"
D = "ticdc pkg/sink/codec/common/ddl_test.go"

CASES = [
    # (where, statement, TiDB ActionType)
    (f"{R}:58", "CREATE DATABASE `source_create_schema`", 1),
    (f"{R}:74", "DROP DATABASE `source_drop_schema`", 2),
    (f"{R}:90", "ALTER DATABASE `source_modify_schema` COLLATE utf8mb4_general_ci", 26),
    (f"{R}:106", "CREATE TABLE `source_create_table`.`t_create` (`id` INT PRIMARY KEY)", 3),
    (f"{R}:146", "DROP TABLE `source_drop_table`.`t_drop`", 4),
    (f"{R}:170", "TRUNCATE TABLE `source_truncate_table`.`t_truncate`", 11),
    (f"{R}:194", "RENAME TABLE `source_rename_table`.`t_old` TO `source_rename_table`.`t_new`", 14),
    (f"{R}:226", "RENAME TABLE `source_rename_tables`.`t1_old` TO `source_rename_tables`.`t1_new`, "
                 "`source_rename_tables`.`t2_old` TO `source_rename_tables`.`t2_new`", 47),
    (f"{R}:260", "FLASHBACK TABLE `source_recover_table`.`t_recover`", 25),
    (f"{R}:284", "ALTER TABLE `source_modify_table_comment`.`t_comment` COMMENT = 'hello'", 17),
    (f"{R}:308", "ALTER TABLE `source_modify_table_charset`.`t_charset` COLLATE utf8mb4_general_ci", 22),
    (f"{R}:332", "CREATE VIEW `source_create_view`.`v1` AS SELECT * FROM `source_create_view`.`t_view_src`", 21),
    (f"{R}:364", "DROP VIEW `source_drop_view`.`v1`", 24),
    (f"{R}:388", "ALTER TABLE `source_add_partition`.`pt_add` ADD PARTITION (PARTITION `p2` VALUES LESS THAN (30))", 19),
    (f"{R}:412", "ALTER TABLE `source_drop_partition`.`pt_drop` DROP PARTITION `p0`", 20),
    (f"{R}:436", "ALTER TABLE `source_truncate_partition`.`pt_truncate` TRUNCATE PARTITION `p0`", 23),
    (f"{R}:468", "ALTER TABLE `source_exchange_partition`.`pt_exchange` EXCHANGE PARTITION `p0` WITH TABLE "
                 "`source_exchange_partition`.`t_exchange`", 42),
    (f"{R}:492", "ALTER TABLE `source_reorganize_partition`.`pt_reorganize` REORGANIZE PARTITION `p0`, `p1` INTO "
                 "(PARTITION `p01` VALUES LESS THAN (20))", 64),
    (f"{R}:516", "ALTER TABLE `source_alter_partitioning`.`t_partitioning` PARTITION BY HASH(`id`) PARTITIONS 4", 71),
    (f"{R}:540", "ALTER TABLE `source_remove_partitioning`.`pt_remove` REMOVE PARTITIONING", 72),
    (f"{R}:564", "ALTER TABLE `source_add_column`.`t_add_column` ADD COLUMN `c1` INT", 5),
    (f"{R}:588", "ALTER TABLE `source_drop_column`.`t_drop_column` DROP COLUMN `c1`", 6),
    (f"{R}:612", "ALTER TABLE `source_modify_column`.`t_modify_column` MODIFY COLUMN `c1` BIGINT", 12),
    (f"{R}:636", "ALTER TABLE `source_set_default`.`t_set_default` ALTER COLUMN `c1` SET DEFAULT 5", 15),
    (f"{R}:660", "ALTER TABLE `source_rebase_auto_id`.`t_rebase` AUTO_INCREMENT = 100", 13),
    (f"{R}:684", "ALTER TABLE `source_add_primary_key`.`t_add_pk` ADD PRIMARY KEY(`id`)", 32),
    (f"{R}:708", "ALTER TABLE `source_drop_primary_key`.`t_drop_pk` DROP PRIMARY KEY", 33),
    (f"{R}:732", "CREATE INDEX `idx_c1` ON `source_add_index`.`t_add_index`(`c1`)", 7),
    (f"{R}:756", "DROP INDEX `idx_c1` ON `source_drop_index`.`t_drop_index`", 8),
    (f"{R}:780", "ALTER TABLE `source_rename_index`.`t_rename_index` RENAME INDEX `idx_c1` TO `idx_c2`", 18),
    (f"{R}:804", "ALTER TABLE `source_alter_index_visibility`.`t_alter_index` ALTER INDEX `idx_c1` INVISIBLE", 41),
    (f"{R}:828", "ALTER TABLE `source_alter_ttl_info`.`t_ttl_info` TTL_ENABLE = 'ON'", 65),
    (f"{R}:852", "ALTER TABLE `source_alter_ttl_remove`.`t_ttl_remove` REMOVE TTL", 67),
    (f"{R}:876", "ALTER TABLE `source_multi_schema_change`.`t_multi` ADD COLUMN `c1` INT, DROP COLUMN `c2`", 61),
    (f"{R}:908", "ALTER TABLE `source_add_foreign_key`.`t1` ADD CONSTRAINT `fk_t2` FOREIGN KEY (`t2_id`) "
                 "REFERENCES `source_add_foreign_key`.`t2`(`id`)", 61),
    (f"{R}:940", "ALTER TABLE `source_drop_foreign_key`.`t1` DROP FOREIGN KEY `fk_t2`", 10),
    (f"{R}:964", "ALTER TABLE `source_add_columns`.`t_add_columns` ADD COLUMN (`c1` INT, `c2` INT)", 61),
    (f"{R}:988", "ALTER TABLE `source_drop_columns`.`t_drop_columns` DROP COLUMN `c1`, DROP COLUMN `c2`", 61),
    (f"{D}:46", "create schema aaa", 1),
    (f"{D}:72", "alter table t change column b c int", 12),
    (f"{D}:100", "alter table t add key idx(b)", 7),
    (f"{D}:108", "alter table t add unique index idx(b)", 7),
    (f"{D}:164", "truncate t", 11),
    (f"{D}:177", "create table t (a int primary key)\n    \tpartition by range(a) (\n    \tpartition p0 values less than (10),"
                 "\n    \tpartition p1 values less than (20))", 3),
    (f"{D}:188", "alter table t reorganize partition p0, p1 into (partition p0 values less than (20))", 64),
    (f"{D}:208", "alter table t1 partition by hash(a) partitions 4", 71),
    ("ticdc pkg/sink/codec/simple/encoder_test.go:368", "ALTER TABLE `TBL1` ALTER COLUMN `payload` SET DEFAULT _UTF8MB4'a'", 15),
    ("ticdc pkg/sink/codec/simple/encoder_test.go:372", "ALTER TABLE `TBL1` AUTO_INCREMENT = 5", 13),
    ("ticdc pkg/sink/codec/simple/encoder_test.go:380", "ALTER TABLE `TBL1` RENAME INDEX `idx_a` TO `new_idx_a`", 18),
]


@pytest.mark.parametrize("where, query, action", CASES, ids=[case[0] for case in CASES])
def test_action_type_as_tidb_gives_it(where, query, action):
    assert classify(query).action == action


@pytest.mark.parametrize(
    "query, action",
    [
        # Comments, quoted names and string literals do not confuse the reading.
        ("/* x */ alter   table t comment 'a, b -- c # d'", 17),
        ("ALTER TABLE `we,ird (name)` ADD COLUMN `c,1` INT", 5),
        ("ALTER TABLE t ADD COLUMN c DECIMAL(10,2), ADD INDEX i (c)", 61),
        # TiDB ignores ALGORITHM= and LOCK= (ResolveAlterTableSpec): one change.
        ("ALTER TABLE t ALGORITHM=INSTANT, ADD COLUMN c INT", 5),
        ("ALTER TABLE t ADD COLUMN (c INT)", 5),
        ("ALTER TABLE t CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", 22),
        ("ALTER TABLE t COMMENT='a' AUTO_INCREMENT=5", 61),  # GetDDLActionType: several options
        ("ALTER TABLE t RENAME TO u", 14),
        ("ALTER TABLE t RENAME COLUMN a TO b", 12),
        ("ALTER TABLE t ALTER COLUMN c DROP DEFAULT", 15),
        ("ALTER TABLE t DROP INDEX `PRIMARY`", 33),
        ("TRUNCATE TABLE t PARTITION (p0)", 23),
        ("GRANT ALL ON *.* TO u", 0),
        # TiDB's executable comments are read (the query as TiCDC restores it: tiflow cdc/owner/ddl_sink_test.go:368).
        ("ALTER TABLE `t` /*T![force_inc] FORCE  */AUTO_INCREMENT = 12", 13),
    ],
)
def test_forms_read_off_the_text(query, action):
    assert classify(query).action == action


@pytest.mark.parametrize(
    "action, canal",
    [
        (1, "QUERY"), (2, "QUERY"), (3, "CREATE"), (4, "ERASE"), (5, "ALTER"), (6, "ALTER"), (7, "CINDEX"),
        (8, "DINDEX"), (9, "CINDEX"), (10, "DINDEX"), (11, "TRUNCATE"), (12, "ALTER"), (13, "ALTER"),
        (14, "RENAME"), (15, "ALTER"), (17, "ALTER"), (18, "ALTER"), (19, "ALTER"), (20, "ALTER"),
        (21, "QUERY"), (22, "ALTER"), (23, "ALTER"), (24, "QUERY"), (32, "CINDEX"), (33, "DINDEX"),
        (41, "ALTER"), (42, "QUERY"), (47, "RENAME"), (61, "ALTER"), (64, "ALTER"), (65, "QUERY"),
        (71, "ALTER"), (72, "ALTER"), (0, "QUERY"),
    ],
)
def test_canal_type_is_ticdcs_convert_ddl_event_type(action, canal):
    # ticdc pkg/sink/codec/canal/helper.go:211 convertDdlEventType
    assert canal_type(action) == canal


def test_classify_gives_both():
    kind = classify("ALTER TABLE t ADD COLUMN a INT, ADD COLUMN b INT")
    assert kind == ("ALTER", 61) and kind.canal_type == "ALTER" and kind.action == 61
