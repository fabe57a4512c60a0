//! The SQLite database file alone holds everything committed once `checkpoint_wal` returns, even while the
//! background checkpoint runs: first start relies on it when it moves the new database into place without its
//! write-ahead log.

use certwright_core::store::{Store, StoreTx};
use certwright_store::SqlStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointed_database_file_moves_without_its_log() {
    for round in 0..20 {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.db");
        let store = SqlStore::open_sqlite(&path).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert!(tx.insert_meta("round", &round.to_string()).await.unwrap());
        tx.commit().await.unwrap();
        // Give the background checkpoint a chance to be mid-flight.
        tokio::time::sleep(std::time::Duration::from_millis(round * 7 % 110)).await;
        store.checkpoint_wal().await.unwrap();
        let moved = tmp.path().join("moved.db");
        std::fs::copy(&path, &moved).unwrap();
        store.close().await;
        let reopened = SqlStore::open_sqlite(&moved).await.unwrap();
        assert_eq!(reopened.meta("round").await.unwrap().as_deref(), Some(round.to_string().as_str()), "round {round}");
        reopened.close().await;
    }
}
