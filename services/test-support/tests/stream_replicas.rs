//! Herald's streams in a three-server NATS cluster (`HERALD_NATS_REPLICAS=3`): a copy on every
//! server, a single-copy stream raised to three, and jobs that survive the loss of the
//! server leading their stream.

use std::time::Duration;

use async_nats::jetstream::{self, Context as JetStream};
use herald_runtime::jetstream::Topology;
use herald_test_support::{NatsCluster, eventually};

async fn jetstream(cluster: &NatsCluster) -> JetStream {
    let client = async_nats::connect(cluster.urls())
        .await
        .expect("a server of the cluster answers");
    jetstream::new(client)
}

async fn replicas(js: &JetStream, stream: &str) -> (usize, usize) {
    let info = js
        .get_stream(stream)
        .await
        .expect("stream exists")
        .info()
        .await
        .expect("stream info")
        .clone();
    let followers = info.cluster.map_or(0, |c| c.replicas.len());
    (info.config.num_replicas, followers)
}

#[tokio::test]
async fn every_stream_has_a_copy_on_every_server() {
    let cluster = NatsCluster::start(3).expect("the cluster starts");
    let js = jetstream(&cluster).await;
    let topology = Topology::new("replicated").with_replicas(3);
    topology.ensure_streams(&js).await.unwrap();
    topology.ensure_advisories_stream(&js).await.unwrap();
    for stream in [
        topology.deliveries_stream(),
        topology.dead_letters_stream(),
        topology.advisories_stream(),
    ] {
        // The leader holds one copy, each of its two followers another.
        assert_eq!(replicas(&js, &stream).await, (3, 2), "{stream}");
    }
}

#[tokio::test]
async fn a_single_copy_stream_is_raised_to_the_configured_replicas() {
    let cluster = NatsCluster::start(3).expect("the cluster starts");
    let js = jetstream(&cluster).await;
    let single = Topology::new("grown");
    single.ensure_streams(&js).await.unwrap();
    assert_eq!(replicas(&js, &single.deliveries_stream()).await, (1, 0));

    single
        .clone()
        .with_replicas(3)
        .ensure_streams(&js)
        .await
        .unwrap();
    let stream = single.deliveries_stream();
    eventually(
        "three copies of the stream",
        Duration::from_secs(10),
        || async { (replicas(&js, &stream).await == (3, 2)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn jobs_survive_the_loss_of_their_streams_leader() {
    let mut cluster = NatsCluster::start(3).expect("the cluster starts");
    let js = jetstream(&cluster).await;
    let topology = Topology::new("survivor").with_replicas(3);
    topology.ensure_streams(&js).await.unwrap();
    let subject = topology.job_subject("acme", "wh1");
    for n in 0..10 {
        js.publish(subject.clone(), format!("job {n}").into())
            .await
            .unwrap()
            .await
            .expect("stored on a quorum");
    }
    let stream = topology.deliveries_stream();
    let leader = js
        .get_stream(&stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .cluster
        .clone()
        .and_then(|c| c.leader)
        .expect("the stream has a leader");
    cluster.kill(&leader);

    // A client of the two servers left: they elect a new leader and keep every job.
    let js = jetstream(&cluster).await;
    let kept = eventually(
        "a new leader of the stream",
        Duration::from_secs(20),
        || async {
            let mut handle = js.get_stream(&stream).await.ok()?;
            let info = handle.info().await.ok()?;
            let new_leader = info.cluster.as_ref()?.leader.clone()?;
            (new_leader != leader).then_some(info.state.messages)
        },
    )
    .await;
    assert_eq!(kept, 10, "every job is still there");
    js.publish(subject, "job 10".into())
        .await
        .unwrap()
        .await
        .expect("new jobs are still stored");
}
